"""Every misspelt or mistyped pod setting is a located error (file:line:col, exit 2) with a suggestion."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.inprocess import run_main

# (what is written under a step's `pod:` (or the step, or deploy config), what the report must say, the hint)
MISTAKES = [
    ("pod: {securityContext: {runAsUser: '1000'}}", "expected a whole number", "write 1000 without quotes"),
    ("pod: {securityContext: {run_as_non_root: true}}", "unknown key 'run_as_non_root'", "'runAsNonRoot'"),
    ("pod: {securityContext: {runAsNonRot: true}}", "unknown key 'runAsNonRot'", "'runAsNonRoot'"),
    ("pod: {securityContext: {fsgroup: 1000}}", "unknown key 'fsgroup'", "'fsGroup'"),
    ("pod: {securityContext: {fsGroup: -5}}", "between 0 and 2147483647", None),
    ("pod: {securityContext: {seccompProfile: {type: runtimedefault}}}", "not one of", "'RuntimeDefault'"),
    ("pod: {securityContext: {seccompProfile: {type: Localhost}}}", "needs localhostProfile", None),
    ("pod: {containerSecurityContext: {readOnlyRootFilesystem: 'true'}}", "expected true or false", "without quotes"),
    ("pod: {containerSecurityContext: {allowPrivilegeEscalaton: false}}", "unknown key", "'allowPrivilegeEscalation'"),
    ("pod: {containerSecurityContext: {capabilities: {drop: ALL}}}", "expected a list", "[ALL]"),
    ("pod: {containerSecurityContext: {procMount: unmasked}}", "not one of", "'Unmasked'"),
    ("pod: {imagePullSecrets: [regcred]}", "expected a mapping {name}", "{name: regcred}"),
    ("pod: {imagePullSecret: [{name: regcred}]}", "unknown key 'imagePullSecret'", "'imagePullSecrets'"),
    ("pod: {image_pull_secrets: [{name: regcred}]}", "unknown key 'image_pull_secrets'", "'imagePullSecrets'"),
    ("imagePullSecrets: [{name: regcred}]", "unknown key 'imagePullSecrets'", "put it under `pod:`"),
    ("securityContext: {runAsUser: 1000}", "unknown key 'securityContext'", "put it under `pod:`"),
    (
        "pod: {annotations: {sidecar.istio.io/inject: false}}",
        "expected a string",
        'quote it: sidecar.istio.io/inject: "false"',
    ),
    ("pod: {labels: {team: Data Team}}", "not a valid label value", None),
    ("pod: {nodeSelector: {pool: gpu}}", "unknown key 'nodeSelector'", "`node_selector`"),
    ("pod: {volumes: [{name: Scratch, emptyDir: {}}]}", "not a valid volume name", "'scratch'"),
    ("pod: {volumes: [{name: h, hostPath: {path: /x}}]}", "volume type 'hostPath' is not supported", "configMap"),
    ("pod: {volumes: [{name: s, emptyDir: {sizeLimit: 1GB}}]}", "not a Kubernetes quantity", None),
    ("pod: {volumes: [{name: c, configMap: {name: cfg, defaultMode: 644}}]}", "between 0 and 0o777", "0o644"),
    ("pod: {volumes: [{name: c, configMap: {nam: cfg}}]}", "unknown key 'nam'", "'name'"),
    ("pod: {volumes: [{name: s, emptyDir: {}}], volumeMounts: [{name: s, mountPath: tmp}]}", "absolute path", None),
    (
        "pod: {volumes: [{name: s, emptyDir: {}}], volumeMounts: [{name: s, mount_path: /tmp}]}",
        "unknown key",
        "'mountPath'",
    ),
    ("pod: {affinity: {nodeAfinity: {}}}", "unknown key 'nodeAfinity'", "'nodeAffinity'"),
    (
        "pod: {topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedul}]}",
        "not one of",
        "'DoNotSchedule'",
    ),
    (
        "pod: {topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway}]}",
        "maxSkew",
        None,
    ),
    ("pod: {priorityClassName: High_Priority}", "not a valid priority class name", "'high-priority'"),
    ("pod: {priorityClass: batch}", "unknown key 'priorityClass'", "'priorityClassName'"),
    ("resources: {limits: {memroy: 1Gi}}", "unknown key 'memroy'", "'memory'"),
    ("resources: {ephemeral-storage: 1Gi}", "unknown key 'ephemeral-storage'", "'ephemeral_storage'"),
    ("resources: {cpu: 2, limits: {cpu: 500m}}", "above its limit", None),
    ("service_account: Etl_Runner", "not a valid service account name", "'etl-runner'"),
    ("serviceAccountName: etl", "unknown key 'serviceAccountName'", "'service_account'"),
]


@pytest.mark.parametrize(("setting", "message", "hint"), MISTAKES, ids=[m[0][:60] for m in MISTAKES])
def test_each_mistake_is_located_with_a_suggestion(tmp_path, capsys, setting, message, hint):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"name: p\ndefaults: {{image: i}}\nsteps:\n  a:\n    shell: 'true'\n    {setting}\n")
    result = run_main(capsys, "check", str(pipeline))
    assert result.code == 2, result.err
    assert result.errors == 1, result.err
    assert message in result.err
    assert result.lines == [6], result.err  # the line of the mistake, never the top of the file
    assert f"{pipeline}:6:" in result.err and "^" in result.err
    if hint is not None:  # in the help line, or in the message itself ("for example 'scratch'")
        assert hint in result.err, result.err


@pytest.mark.parametrize(
    ("setting", "message", "hint"),
    [
        ("pod: {securityContext: {runAs_user: 1}}", "unknown key 'runAs_user'", "'runAsUser'"),
        ("securty: restricted", "unknown key 'securty'", "'security'"),
        ("security: strict", "is not one of 'privileged', 'baseline', 'restricted'", None),
        ("volumes: [{name: x, emptyDir: {}}]", "unknown key 'volumes'", "put it under `pod:`"),
        ("pod: {volumeMounts: [{name: x, mountPath: /x}]}", "names volume 'x', which this pod does not have", None),
    ],
)
def test_deploy_config_mistakes_are_located_in_its_file(tmp_path, capsys, setting, message, hint):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: p\nsteps: {a: {stub: true}}\n")
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(f"namespace: data\n{setting}\n")
    result = run_main(capsys, "check", str(pipeline), "-c", str(deploy))
    assert result.code == 2, result.err
    assert message in result.err and f"{deploy}:2:" in result.err, result.err
    if hint is not None:
        assert hint in result.err


def test_every_mistake_of_a_file_is_reported_at_once(tmp_path, capsys):
    steps = "".join(f"  s{i}:\n    shell: 'true'\n    {setting}\n" for i, (setting, _, _) in enumerate(MISTAKES))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"name: p\ndefaults: {{image: i}}\nsteps:\n{steps}")
    result = run_main(capsys, "check", str(pipeline))
    assert result.code == 2
    assert result.errors == len(MISTAKES), result.err
    assert result.lines == [6 + 3 * i for i in range(len(MISTAKES))]


PROFILE_PIPELINE = textwrap.dedent(
    """\
    name: p
    defaults:
      image: i
      pod:
        securityContext: {runAsUser: 0}
    steps:
      a:
        shell: 'true'
        pod:
          containerSecurityContext: {privileged: true, capabilities: {add: [SYS_ADMIN], drop: [all]}}
      b:
        shell: 'true'
        pod:
          securityContext: {seccompProfile: {type: Unconfined}, sysctls: [{name: kernel.msgmax, value: "1"}]}
          containerSecurityContext: {allowPrivilegeEscalation: true, runAsNonRoot: false}
    """
)


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ("privileged", []),
        (
            "baseline",
            [
                (10, "privileged containers"),
                (10, "SYS_ADMIN"),
                (14, "seccomp profile Unconfined"),
                (14, "sysctl kernel.msgmax"),
            ],
        ),
        (
            "restricted",
            [
                (5, "running as root"),
                (10, "privileged containers"),
                (10, "SYS_ADMIN"),
                (10, "dropping ALL"),
                (14, "seccomp profile Unconfined"),
                (14, "sysctl kernel.msgmax"),
                (15, "allowPrivilegeEscalation: false"),
                (15, "runAsNonRoot: true"),
            ],
        ),
    ],
)
def test_profile_violations_are_located_where_written(tmp_path, capsys, security, expected):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PROFILE_PIPELINE)
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(f"security: {security}\n")
    result = run_main(capsys, "check", str(pipeline), "-c", str(deploy))
    assert result.errors == len(expected), result.err
    assert result.code == (2 if expected else 0)
    assert sorted(result.lines) == sorted(line for line, _ in expected)
    for _, words in expected:
        assert words in result.err
    if expected:
        assert "= help:" in result.err
