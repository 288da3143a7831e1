"""``rnnfast mytorch install|uninstall DIR`` (see rnnfast.mytorch.shims)."""
import argparse


def register(subparsers, name: str = "mytorch"):
    p = subparsers.add_parser(name, help="run a MyTorch (11-785) handout on rnnfast: install/uninstall shims")
    sub = p.add_subparsers(dest="action", metavar="action")
    i = sub.add_parser("install", help="write shim files into a handout tree (originals backed up)")
    i.add_argument("dir")
    i.add_argument("--force", action="store_true", help="back up and replace files rnnfast did not write")
    i.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    u = sub.add_parser("uninstall", help="remove the shims and restore the originals")
    u.add_argument("dir")
    u.add_argument("--dry-run", action="store_true")

    def run(args) -> int:
        from . import shims

        if args.action == "install":
            return shims.install(args.dir, args.force, args.dry_run)
        if args.action == "uninstall":
            return shims.uninstall(args.dir, args.dry_run)
        p.print_help()
        return 2
    p.set_defaults(func=run)
    return p
