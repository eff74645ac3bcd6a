"""What a running service holds for auditors: the stored log, its signed
checkpoints, the sealer that records them and a verifier with every key that
signed them (``projections.checkpoints``, ``projections.sealer``,
``projections.verification``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.signing import Signer
from ledger.store import StoreConfig
from projections.checkpoints import CheckpointStore, StoredLog
from projections.sealer import Sealer
from projections.verification import Verifier


@dataclass
class Audit:
    """What a running service holds for auditors."""

    log: StoredLog
    checkpoints: CheckpointStore
    signer: Signer
    sealer: Sealer | None = None
    previous_keys: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        store: Any,
        events_table: str,
        signer: Signer,
        *,
        config: StoreConfig | None = None,
        every: int = 1000,
        interval: float = 60.0,
        seal: bool = True,
        previous_keys: tuple[str, ...] = (),
    ) -> Audit:
        log = StoredLog(store, events_table)
        checkpoints = CheckpointStore(store)
        checkpoints.setup()
        sealer = (
            Sealer(log, checkpoints, signer, every=every, interval=interval, config=config)
            if seal else None
        )
        return cls(log, checkpoints, signer, sealer, previous_keys)

    def verifier(self) -> Verifier:
        return Verifier(self.log, self.checkpoints,
                        [self.signer.public_raw.hex(), *self.previous_keys])

    def close(self) -> None:
        if self.sealer is not None:
            self.sealer.stop()
