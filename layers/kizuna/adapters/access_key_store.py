"""The access-key store on DynamoDB, with the secret half encrypted by KMS.

Item: {access_key_id (S, partition key), secret_ciphertext (B), app_ids (L of S; absent for an admin key),
status (S), created_at (S, ISO 8601), description (S)}. The ciphertext is bound to its key id through the KMS
encryption context {"access_key_id": <id>}, so a ciphertext copied onto another item does not decrypt.
The plaintext secret is never logged and never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kizuna.auth.access_keys import AccessKey, KeyStatus


class DynamoAccessKeyStore:
    def __init__(self, table_name: str, kms_key_id: str, dynamodb_client: Any, kms_client: Any) -> None:
        self._table = table_name
        self._kms_key_id = kms_key_id
        self._ddb = dynamodb_client
        self._kms = kms_client

    def put(self, key: AccessKey, secret: str) -> None:
        ciphertext = self._kms.encrypt(
            KeyId=self._kms_key_id,
            Plaintext=secret.encode("utf-8"),
            EncryptionContext=_context(key.access_key_id),
        )["CiphertextBlob"]
        item: dict[str, Any] = {
            "access_key_id": {"S": key.access_key_id},
            "secret_ciphertext": {"B": ciphertext},
            "status": {"S": key.status.value},
            "created_at": {"S": key.created_at.astimezone(UTC).isoformat()},
            "description": {"S": key.description},
        }
        if key.app_ids is not None:
            item["app_ids"] = {"L": [{"S": app_id} for app_id in sorted(key.app_ids)]}
        self._ddb.put_item(TableName=self._table, Item=item)

    def get(self, access_key_id: str) -> tuple[AccessKey, str] | None:
        item = self._ddb.get_item(
            TableName=self._table, Key={"access_key_id": {"S": access_key_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        plaintext = self._kms.decrypt(
            KeyId=self._kms_key_id,
            CiphertextBlob=item["secret_ciphertext"]["B"],
            EncryptionContext=_context(access_key_id),
        )["Plaintext"]
        app_ids = item.get("app_ids")
        key = AccessKey(
            access_key_id=item["access_key_id"]["S"],
            app_ids=None if app_ids is None else frozenset(v["S"] for v in app_ids["L"]),
            created_at=datetime.fromisoformat(item["created_at"]["S"]),
            status=KeyStatus(item["status"]["S"]),
            description=item.get("description", {}).get("S", ""),
        )
        return key, plaintext.decode("utf-8")

    def __repr__(self) -> str:
        return f"DynamoAccessKeyStore(table={self._table!r})"


def _context(access_key_id: str) -> dict[str, str]:
    return {"access_key_id": access_key_id}
