#!/usr/bin/python3
"""Writes conect-node(1) from the CLI's own --help (every command and
subcommand), so the man page never drifts from the binary.

    manpage.py PATH/TO/conect-node OUT.1

The help text is CLI11's: a description line, "Usage: ...", then blocks
("Positionals:", "Options:", "Subcommands:") of two-column items whose
description may continue on lines indented to the second column.
"""
import datetime
import os
import re
import subprocess
import sys

BINARY, OUT = sys.argv[1], sys.argv[2]


def run(*args):
    p = subprocess.run(["conect-node", *args], executable=BINARY, capture_output=True, text=True, check=True)
    return p.stdout


def parse_help(text):
    """-> (description, usage, {block title: [(name, description)]})"""
    lines = text.splitlines()
    description, usage, blocks, block = "", "", {}, None
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("Usage: "):
            usage = line[len("Usage: "):]
        elif re.match(r"^[A-Z][A-Za-z ]*:$", line):
            block = line[:-1]
            blocks[block] = []
        elif block is None:
            description += (" " if description else "") + line.strip()
        elif re.match(r"^  \S", line):
            name, _, desc = line.strip().partition("  ")
            blocks[block].append([name.strip(), desc.strip()])
        elif blocks.get(block):
            blocks[block][-1][1] += (" " if blocks[block][-1][1] else "") + line.strip()
    return description, usage, blocks


def roff(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def option_item(name, desc):
    # "--host TEXT REQUIRED": the flag in bold, the rest in italics.
    flag, _, rest = name.partition(" ")
    head = "\\fB" + roff(flag) + "\\fR" + (" \\fI" + roff(rest) + "\\fR" if rest else "")
    return [".TP", head, roff(desc) if desc else "\\&"]


def command_section(path):
    """The help of `conect-node PATH...` and of every subcommand below it."""
    description, usage, blocks = parse_help(run(*path, "--help"))
    out = []
    subs = [name for name, _ in blocks.get("Subcommands", [])]
    if path:
        out += [".SS \"" + roff(usage) + "\"", roff(description)]
        for title in ("Positionals", "Options"):
            items = [i for i in blocks.get(title, []) if not i[0].startswith("-h,--help")]
            if items:
                out.append(".RS")
                for name, desc in items:
                    out += option_item(name, desc)
                out.append(".RE")
    for sub in subs:
        out += command_section(path + [sub])
    return out


def main():
    description, usage, blocks = parse_help(run("--help"))
    version = run("--version").split()[-1]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    date = (datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d")
    page = [
        f'.TH CONECT\\-NODE 1 "{date}" "conect-node {version}" "User Commands"',
        ".SH NAME",
        "conect\\-node \\- " + roff(description.split(": ", 1)[-1]),
        ".SH SYNOPSIS",
        ".B conect\\-node",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fICOMMAND OPTIONS\\fR]",
        ".SH DESCRIPTION",
        "One binary runs a conect node (\\fBrun\\fR) and administers it. Commands that change",
        "records (\\fBorg\\fR, \\fBplacement\\fR, \\fBreserve\\fR, \\fBmobility\\fR, ...) talk to the",
        "running node's HTTP API with the token of its data directory; \\fBinit\\fR, \\fBcard\\fR,",
        "\\fBmember\\fR, \\fBpeer\\fR, \\fBbackup\\fR and \\fBrestore\\fR work on the data directory itself.",
        "Every command takes the global options below, before or after its name.",
        "Installed from the Debian package, the node runs as the \\fBconect\\fR user with the data",
        "directory \\fI/var/lib/conect\\fR: run commands as that user, e.g.",
        "\\fBsudo \\-u conect conect\\-node status \\-\\-data /var/lib/conect\\fR.",
        ".SH OPTIONS",
    ]
    for name, desc in blocks.get("Options", []):
        page += option_item(name, desc)
    page += [".SH COMMANDS"] + command_section([])
    page += [
        ".SH FILES",
        ".TP", "\\fIDIR/node.toml\\fR", "Configuration, every field documented in place (written by \\fBinit\\fR).",
        ".TP", "\\fIDIR/identity.key\\fR, \\fIDIR/noise.key\\fR, \\fIDIR/api.token\\fR",
        "The node's secret keys and API token (mode 0600). Losing \\fIidentity.key\\fR loses the node's identity.",
        ".TP", "\\fIDIR/store/\\fR", "The LMDB store; \\fBbackup\\fR copies it consistently while the node runs.",
        ".TP", "\\fIDIR/ports.json\\fR", "The ports a running node listens on.",
        ".SH ENVIRONMENT",
        ".TP", "\\fBCONECT_DATA\\fR", "The data directory when \\fB\\-\\-data\\fR is not given (else \\fI./conect\\-data\\fR).",
        ".SH EXIT STATUS",
        "0 on success, 1 when the request was refused (the message says why and what to do),",
        "2 on a usage error.",
        ".SH SEE ALSO",
        "\\fI/usr/share/doc/conect\\-node/operations.md\\fR (installing, joining a federation,",
        "monitoring, backups, upgrades, troubleshooting), \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1).",
    ]
    with open(OUT, "w") as f:
        f.write("\n".join(page) + "\n")


main()
