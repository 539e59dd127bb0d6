"""`make models`: train, quantize, package and sign every shipped model (deterministic seeds)."""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from edge_agent.signing import load_private_key
from models.training.package import DEV_KEY, write_package

log = logging.getLogger(__name__)
MODELS_DIR = Path(__file__).resolve().parents[1]


def _created() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return moment.replace(microsecond=0).isoformat()


def main(argv: list[str] | None = None) -> int:
    """Train both tasks and write their packages under models/."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["inspection", "maintenance", "cycle-time"], help="build one task only")
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test training")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="where NAME/VERSION packages go")
    parser.add_argument("--key", type=Path, default=DEV_KEY, help="Ed25519 private key that signs manifests")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    key = load_private_key(args.key)
    started = time.monotonic()
    if args.only in (None, "inspection"):
        from models.training import train_inspection

        for trained in train_inspection.train(seed=0, quick=args.quick):
            print("wrote", write_package(trained, args.out, key, created=_created(), on_change="bump"))
    if args.only in (None, "maintenance"):
        from models.training import train_maintenance

        trained = train_maintenance.train(seed=0, quick=args.quick)
        print("wrote", write_package(trained, args.out, key, created=_created(), on_change="bump"))
    if args.only in (None, "cycle-time"):
        from models.training import train_cycle_time

        trained = train_cycle_time.train(seed=0, quick=args.quick)
        print("wrote", write_package(trained, args.out, key, created=_created(), on_change="bump"))
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
