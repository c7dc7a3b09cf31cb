# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of spotflow.eks.checks (documentation in plugins/modules/checks.py)."""

from __future__ import annotations

from collections import ChainMap

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# What plugins/modules/checks.py documents (tests/unit/test_module_docs.py reads this literal and compares).
ARGUMENT_SPEC = {
    "checks": {"type": "list", "elements": "dict", "required": True, "options": {
        "name": {"type": "str"},
        "that": {"type": "raw", "required": True},
        "fail_msg": {"type": "str", "required": True},
        "vars": {"type": "dict"},
        "when": {"type": "raw"},
    }},
}


class ActionModule(ActionBase):
    """Evaluate checks in order, each with its own message; fail at the first that does not hold."""

    _requires_connection = False
    _supports_check_mode = True

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        # `checks` is templated one check at a time in run(): a check's vars and message only once the
        # checks before it have held (as with one assert task each). ansible-core marks this hook
        # experimental; without it the checks simply arrive templated.
        if name == "checks":
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        # the standard checks of the options (types, required, unknown keys); the checks are then read as given,
        # untemplated, from the task
        self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        checks = self._task.args["checks"]
        if not checks:
            raise AnsibleActionFail("checks must list at least one check")
        done = skipped = 0
        for index, check in enumerate(checks):
            name = check.get("name") or "checks[%d]" % index
            # the check's vars over the task's, templated when used (like a task's vars)
            templar = self._templar.copy_with_new_env(
                available_variables=ChainMap(dict(check["vars"]), self._templar.available_variables)) \
                if check.get("vars") else self._templar
            when = check.get("when", True)
            if not all(templar.evaluate_conditional(conditional=c) for c in (when if isinstance(when, list) else [when])):
                skipped += 1
                continue
            that = check["that"] if isinstance(check["that"], list) else [check["that"]]
            for conditional in that:
                if not templar.evaluate_conditional(conditional=conditional):
                    result.update(failed=True, check=name, assertion=conditional, evaluated_to=False,
                                  msg=templar.template(check["fail_msg"]))
                    return result
            done += 1
        result.update(changed=False, msg="%d checks held, %d skipped" % (done, skipped), checked=done, skipped_checks=skipped)
        return result
