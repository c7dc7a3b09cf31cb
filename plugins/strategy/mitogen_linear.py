# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible's linear strategy, run by Mitogen for Ansible (ansible.cfg: strategy = mitogen_linear).

Ansible starts a new Python for every module run and sends it the module as a zip: a no-op of
site.yml spent about 35 of its ~90 s importing boto3 and the Kubernetes client, creating clients and
compiling module_utils, 47 times (docs/design.md). Mitogen keeps one Python per host that has them
imported and forks a child from it for each run, with the same task semantics (check mode, diff,
no_log, become, environment). The package is pinned in requirements-dev.txt; this file only makes
its strategy loadable from the repository instead of a path inside the virtualenv. To run without
it: ANSIBLE_STRATEGY=linear.

Known limit: an `async` task of a collection's module never finishes under Mitogen 0.3.54
(mitogen-hq/mitogen#835, open): the job, forked from Mitogen's pristine fork parent, imports
`ansible_collections` through Mitogen's network importer and waits for ever for the controller's
answer (its stack, seen with py-spy). No role or playbook here uses `async`; a play that does says
`strategy: ansible.builtin.linear` (tests/integration/playbooks/k8s_modules/pod_placement_info.yml).
"""

import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
