"""Secrets Manager: AWS's error text for a secret marked for deletion."""

from __future__ import annotations

SECRET_MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."


def patch_secretsmanager() -> None:
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    orig = SecretsManagerBackend.get_secret_value

    def get_secret_value(self, *args, **kwargs):
        try:
            return orig(self, *args, **kwargs)
        except InvalidRequestException as e:
            if "marked deleted" in str(getattr(e, "message", e)):
                raise InvalidRequestException(SECRET_MARKED_FOR_DELETION) from None
            raise

    SecretsManagerBackend.get_secret_value = get_secret_value

