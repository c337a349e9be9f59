"""One Azure Blob container client, as the blob trigger and the trigger state store both use it."""

from __future__ import annotations

from typing import Any

from agentdown.runtime.queues.config import StorageAccount

__all__ = ["ContainerHandle"]


class ContainerHandle:
    """A container client signed in with the account's connection string or its identity."""

    def __init__(self, account: StorageAccount, container: str) -> None:
        from azure.storage.blob.aio import BlobServiceClient

        self.account = account
        self.container = container
        self._credential: Any = None
        if account.connection_string is not None:
            self._service = BlobServiceClient.from_connection_string(account.connection_string)
        else:
            from azure.identity.aio import DefaultAzureCredential

            self._credential = DefaultAzureCredential(managed_identity_client_id=account.client_id)
            self._service = BlobServiceClient(account.require_blob_url(), credential=self._credential)
        self.client: Any = self._service.get_container_client(container)

    async def ensure_exists(self, error: type[Exception], what: str) -> None:
        """Create the container unless it exists; an Azure failure becomes ``error`` naming ``what``."""
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            if not await self.client.exists():
                await self.client.create_container()
        except ResourceExistsError:
            pass  # another worker created it between our check and our create
        except AzureError as exc:
            raise error(f"{what} {self.container!r}: {exc}") from exc

    async def aclose(self) -> None:
        await self._service.close()
        if self._credential is not None:
            await self._credential.close()
