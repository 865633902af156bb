"""The kiosk's side of the wire on the command line: `enroll` and `sync`."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from urllib.parse import urlsplit

from kiosk.cli import Failure, UsageError


def register(commands: argparse._SubParsersAction) -> None:
    enroll = commands.add_parser(
        "enroll", help="store the server URL and credentials printed by `server add-kiosk`"
    )
    enroll.add_argument(
        "enrollment", metavar="ENROLLMENT", help="the last line printed by `server add-kiosk`: URL#TOKEN"
    )
    enroll.add_argument(
        "--server", metavar="URL", help="use this server address instead of the one in ENROLLMENT"
    )
    enroll.add_argument("--data-dir", metavar="DIR")
    enroll.set_defaults(func=enroll_command)

    sync = commands.add_parser(
        "sync", help="send what is pending now and exit: 0 when nothing is left pending, else 1"
    )
    sync.add_argument("--data-dir", metavar="DIR")
    sync.set_defaults(func=sync_command)


def enroll_command(args: argparse.Namespace) -> int:
    from kiosk.config import KioskConfig, data_dir_from
    from sync.protocol import EnrollmentError, parse_enrollment

    try:
        enrollment = parse_enrollment(args.enrollment, args.server)
    except EnrollmentError as e:
        raise UsageError(f"enroll: {e}") from None
    data_dir = data_dir_from(args.data_dir)
    config = KioskConfig.load(data_dir)
    config.server_url = enrollment.server_url
    config.token = enrollment.token
    config.kiosk_id = enrollment.kiosk_id
    try:
        config.save(data_dir)
    except OSError as e:
        raise Failure(f"{data_dir}: cannot save the configuration: {e.strerror or e}") from None
    print(f"enrolled as kiosk {enrollment.kiosk_id} with {enrollment.server_url}")
    if not _is_private(enrollment.server_url):
        print(
            "warning: this address is not https; answers would cross the network unencrypted", file=sys.stderr
        )
    return 0


def _is_private(url: str) -> bool:
    """https, or plain http to this machine: the only ways answers never travel in clear text."""
    parts = urlsplit(url)
    if parts.scheme == "https" or parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False


def sync_command(args: argparse.Namespace) -> int:
    from kiosk.config import KioskConfig, data_dir_from
    from kiosk.store import ResponseStore, StoreError
    from sync.client import SyncClient

    data_dir = data_dir_from(args.data_dir)
    config = KioskConfig.load(data_dir)
    try:
        store = ResponseStore(data_dir, config.retention_days)
    except StoreError as e:
        raise Failure(f"sync: {e}") from None
    try:
        result = SyncClient(store, config, data_dir=data_dir).run_once()
        quarantined = store.status()["quarantined"]
    finally:
        store.close()
    print(
        f"sent {result.sent}: {result.stored} stored, {result.quarantined} quarantined; "
        f"{result.pending} pending"
    )
    if quarantined:
        print(
            f"{quarantined} response(s) in quarantine: the server refused them; see the admin screen",
            file=sys.stderr,
        )
    if result.error:
        print(f"sync: {result.error}", file=sys.stderr)
    return 1 if result.pending else 0
