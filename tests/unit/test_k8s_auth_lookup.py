"""spotflow.eks.k8s_auth: the Kubernetes tasks of one run share one answer (60 s), kept in a private file.

Each task runs in a process of its own; before the cache every task imported
botocore, described the cluster and signed a token again (about 0.4 s a task).
The EKS API here is a small local server that counts DescribeCluster calls.
The lookup is run by a real ansible-playbook: importing controller code into
this process would turn the module unit tests' warnings into display output.
"""

from __future__ import annotations

import base64


def describe_cluster(path):
    """EKS DescribeCluster's answer for the cluster named at the end of ``path``."""
    name = path.rsplit("/", 1)[-1]
    return 200, {"cluster": {"name": name, "endpoint": "https://{0}.example".format(name),
                             "certificateAuthority": {"data": base64.b64encode(b"CA of " + name.encode()).decode()}}}


def test_the_tasks_of_one_run_share_one_answer(play, json_server, tmp_path, monkeypatch):
    url, requests = json_server(describe_cluster)
    local_tmp = tmp_path / "local-tmp"
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(local_tmp))
    args = ("cluster_name={0}, region='us-east-1', endpoint_url='%s', access_key='AKIDEXAMPLE', "
            "secret_key='s3cret', ca_dir='%s'") % (url, tmp_path / "ca")

    def lookup(var, cluster="demo"):
        return {"name": "look up " + var, "ansible.builtin.set_fact": {var: "{{ lookup('spotflow.eks.k8s_auth', %s) }}" % args.format(repr(cluster))}}

    def spoil(content):
        return [
            {"name": "find the kept answer", "register": "kept", "ansible.builtin.find": {
                "paths": str(local_tmp), "patterns": "spotflow-k8s-auth-*", "recurse": True}},
            {"name": "the answers are private", "ansible.builtin.assert": {
                "that": ["kept.files | length == 2", "kept.files | map(attribute='mode') | unique == ['0600']"]}},
            {"name": "spoil the answer", "loop": "{{ kept.files | map(attribute='path') }}",
             "ansible.builtin.copy": {"dest": "{{ item }}", "content": content, "mode": "0600"}},
        ]

    tasks = [
        lookup("a1"), lookup("a2"), lookup("other", "other"),
        {"name": "same", "ansible.builtin.assert": {"that": [
            "a1 == a2", "a1.host == 'https://demo.example'", "a1.api_key is match('k8s-aws-v1[.]')",
            "other.host == 'https://other.example'", "lookup('file', a1.ca_cert) == 'CA of demo'"]}},
        *spoil('{"created": 0, "host": "h", "ca_cert": "/", "api_key": "k"}'), lookup("old"),
        *spoil("{not json"), lookup("broken"),
        {"name": "asked again", "ansible.builtin.assert": {"that": ["old.host == broken.host == 'https://demo.example'"]}},
    ]
    for run in (1, 2):
        proc, results = play(tasks)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert [r["hosts"]["localhost"].get("failed", False) for r in results] == [False] * len(tasks)
        # one DescribeCluster per cluster, run and answer more than 60 s old or broken
        asked = [path for path, _ in requests]
        assert asked.count("/clusters/demo") == 3 * run and asked.count("/clusters/other") == run
        # the per-run directory, and the answers in it, are gone with the run
        assert list(local_tmp.rglob("spotflow-k8s-auth-*")) == []
