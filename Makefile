# Spotflow: Apache Airflow on Amazon EKS with workers on EC2 Spot.
#
#   make site    the main job: local cloud up, site.yml (which ends with verify.yml and the summary)
#   make test    every test: lint, unit, local cloud, modules, molecule, end-to-end
#
# Both do all set-up themselves (Debian packages, .venv, collections, the
# Kubernetes control plane build and the Airflow base image, all cached).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
# every target that talks to the local cloud gets its environment
WITH_CLOUD := scripts/with-localcloud.sh
INVENTORY ?= inventories/local
# make test and make e2e start a local cloud of their own (own state dir and
# ports): a cloud that make site left running is never touched by the tests
# make test's pytest workers (tests/conftest.py says which tests may run side by side)
TEST_WORKERS ?= 2
# (simulated nodes: the tests that need real ones start a cloud of their own)
TEST_CLOUD := export SPOTFLOW_LOCALCLOUD_STATE=$(CURDIR)/.localcloud-test SPOTFLOW_LOCALCLOUD_PORT_BASE=16000 SPOTFLOW_LOCALCLOUD_NODES=simulated;
# the main job's cloud runs real nodes: Airflow really starts (SPOTFLOW_LOCALCLOUD_NODES=simulated: Node objects only)
MAIN_NODES := $${SPOTFLOW_LOCALCLOUD_NODES:-real}

.PHONY: help bootstrap images up down status site dags verify ui admin-password latency teardown drill test e2e lint sanity unit bench figures clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## Debian packages, Python venv, collections, control plane build (idempotent)
	@bash scripts/bootstrap.sh

images: bootstrap ## the local stand-in for apache/airflow:3.3.2 (cached; needs dockerd: make up)
	@$(WITH_CLOUD) bash localcloud/images/build-airflow-base.sh

up: bootstrap ## start the local cloud (idempotent; real nodes)
	@SPOTFLOW_LOCALCLOUD_NODES=$(MAIN_NODES) $(PY) -m localcloud up

down: ## stop the local cloud (exactly the processes it started)
	@$(PY) -m localcloud down

status: ## show the local cloud's processes
	@$(PY) -m localcloud status

site: up images ## MAIN JOB: site.yml against the local cloud (it ends with verify.yml and the summary)
	@$(WITH_CLOUD) $(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/site.yml

dags: ## after a DAG change in dags/: a new image (content hash), pushed, rolled out (site.yml --tags ecr_image,airflow_app)
	@$(WITH_CLOUD) $(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/site.yml --tags ecr_image,airflow_app

verify: ## verify.yml against the inventory
	@$(WITH_CLOUD) $(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/verify.yml

ui: ## forward the Airflow UI to http://127.0.0.1:8080 until Ctrl-C (after make site); says how to log in
	@$(WITH_CLOUD) bash scripts/airflow-ui.sh

admin-password: ## print the Airflow admin password (from the local cloud's Secrets Manager)
	@$(WITH_CLOUD) $(PY) scripts/airflow_admin_password.py

latency: ## measure trigger -> worker pod Running -> a 1-second task done, on the deployed Airflow (after make site)
	@$(WITH_CLOUD) $(PY) scripts/airflow_latency.py

drill: ## the Spot interruption drill
	@$(WITH_CLOUD) $(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/spot_interruption_drill.yml

teardown: ## teardown.yml (asks for confirmation)
	@$(WITH_CLOUD) $(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/teardown.yml

lint: bootstrap ## ansible-lint (production profile), module docs render
	@$(VENV)/bin/ansible-lint --offline
	@for m in $$(ls collections/ansible_collections/spotflow/eks/plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  $(VENV)/bin/ansible-doc spotflow.eks.$$m >/dev/null || { echo "ansible-doc spotflow.eks.$$m failed"; exit 1; }; done
	@for l in eks_token k8s_auth; do $(VENV)/bin/ansible-doc -t lookup spotflow.eks.$$l >/dev/null; done
	@for f in $$(ls collections/ansible_collections/spotflow/eks/plugins/filter/*.py collections/ansible_collections/spotflow/eks/plugins/filter/*.yml \
	    | xargs -n1 basename | sed 's/\.\(py\|yml\)$$//' | sort -u); do \
	  $(VENV)/bin/ansible-doc -t filter spotflow.eks.$$f >/dev/null || { echo "ansible-doc -t filter spotflow.eks.$$f failed"; exit 1; }; done
	@echo "lint: ok"

sanity: bootstrap ## ansible-test sanity for the collection, offline (part of make test: tests/integration/test_sanity.py)
	@bash scripts/sanity.sh

unit: bootstrap ## unit tests only
	@$(PY) -m pytest tests/unit

test: bootstrap lint ## EVERY TEST (what CI runs), on a local cloud of its own: lint, unit, local cloud, modules, molecule, Airflow DAGs, end-to-end
	@$(TEST_CLOUD) $(PY) -m localcloud up
	@$(TEST_CLOUD) $(WITH_CLOUD) bash localcloud/images/build-airflow-base.sh
	@$(TEST_CLOUD) status=0; $(WITH_CLOUD) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=40 || status=$$?; \
	  $(PY) -m localcloud down || true; exit $$status

e2e: bootstrap ## only the end-to-end tests (part of make test), on the tests' local cloud
	@$(TEST_CLOUD) $(PY) -m localcloud up
	@$(TEST_CLOUD) $(WITH_CLOUD) bash localcloud/images/build-airflow-base.sh
	@$(TEST_CLOUD) status=0; $(WITH_CLOUD) $(PY) -m pytest -m e2e tests/integration/test_e2e.py || status=$$?; \
	  $(PY) -m localcloud down || true; exit $$status

bench: bootstrap ## measure site.yml (converge, no-op, --tags airflow_app, a DAG change) on a local cloud of its own with AWS-like latencies, real nodes
	@$(PY) scripts/benchmark.py

figures: bootstrap ## measure the local cloud: cold/warm up, node join, per-node memory, image pull
	@$(PY) scripts/localcloud_figures.py --json /tmp/lc-figures/figures.json

clean: down ## remove the local clouds' state (caches in ~/.cache/spotflow stay)
	@$(TEST_CLOUD) $(PY) -m localcloud down
	@rm -rf .localcloud .localcloud-test
