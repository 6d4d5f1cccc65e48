"""
The IMAP conformance runner: replays Dovecot's imaptest scripts (the format is
described in ../shared/conformance/imap/imaptest-tests/scripted_test.md)
against any IMAP server at host:port, with a user and password, and reports
per script: passed, skipped (a required capability is not advertised) or
failed with a diff-like message (command, expected, received, best match).

    result = run_script(path, Server("127.0.0.1", 143, "user", "pass"))
    result.status in ("pass", "fail", "skip"); result.message

Owns: the script parser (headers, command groups in the three forms,
multi-line {{{ }}} literals, !ifenv/!ifnenv/!else/!endif, !ordered, !sleep),
the IMAP argument tokenizer used alike for expectations and server replies,
the matcher ($variables, ${case:..}, $N relative sequences, $modseqN, $, $],
$!ordered/$!unordered[=n]/$!noextra/$!extra/$!ignore=/$!ban= and the
per-reply default directives), the mbox message source (the .mbox beside
the script, or default.mbox) and the test set-up (LOGIN, delete every
$mailbox* box, CREATE, APPEND `messages:` mails, SELECT on every
connection), as imaptest does it. Of imaptest's mailbox state tracking it
keeps the EXISTS/EXPUNGE counts ($N sequences) and the one check the
scripts count on: \\Recent given to two sessions for the same UID fails.
Values are compared as imaptest compares them, C strings (a NUL ends one).
"""
import os
import re
import socket
import time

SCRIPTS_DIR = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
    "conformance", "imap", "imaptest-tests"))
DEFAULT_MAILBOX = "imaptest"
REPLY_TIMEOUT = 20.0
MAX_LINE = 1 << 20          # longest reply line we accept
MAX_LITERAL = 64 << 20      # largest literal we accept from a server

_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def up(s):
    """ASCII-only upper case (script and wire text are latin-1 decoded bytes)."""
    return s.translate(_UPPER)


class ScriptError(Exception):
    """The script itself cannot be parsed."""


class TestFailure(Exception):
    """Raised to abandon a test (connection lost, timeout)."""


# ---------------------------------------------------------------- tokenizer
class Arg:
    """One IMAP argument: t is atom, string, literal, nil or list."""
    __slots__ = ("t", "v")

    def __init__(self, t, v):
        self.t, self.v = t, v

    def astring(self):
        """The text of an atom, string or literal, as the C string imaptest
        compares: a NUL ends it (append-binary's expected literal relies on it)."""
        if self.t not in ("atom", "string", "literal"):
            return None
        nul = self.v.find("\0")
        return self.v if nul < 0 else self.v[:nul]

    def __repr__(self):
        return args_str([self])


def args_str(args):
    out = []
    for a in args:
        if a.t == "list":
            out.append("(" + args_str(a.v) + ")")
        elif a.t == "nil":
            out.append("NIL")
        elif a.t == "atom":
            out.append(a.v)
        elif a.t == "literal" or "\r" in a.v or "\n" in a.v:
            out.append("{%d}\r\n%s" % (len(a.v), a.v))
        else:
            out.append('"' + a.v.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(out)


_LITERAL = re.compile(r"~?\{(\d+)\+?\}\r?\n")


def parse_args(s, pos=0, in_list=False, depth=0):
    """Tokenize s from pos: returns (args, pos). Atoms run to a space, a line
    break, or ')' inside a list (any other character, '[' included, is part
    of the atom), so "BODY[HEADER.FIELDS (X)]" is the atom BODY[HEADER.FIELDS,
    the list (X) and the atom "]" on both the script and the server side."""
    if depth > 100:
        raise ScriptError("lists nested too deep")
    args = []
    n = len(s)
    while pos < n:
        c = s[pos]
        if c == " ":
            pos += 1
        elif c in "\r\n":
            if in_list:
                pos += 1
                continue
            break
        elif c == "(":
            sub, pos = parse_args(s, pos + 1, True, depth + 1)
            args.append(Arg("list", sub))
        elif c == ")" and in_list:
            return args, pos + 1
        elif c == '"':
            pos += 1
            buf = []
            while pos < n and s[pos] != '"':
                if s[pos] == "\\" and pos + 1 < n:
                    pos += 1
                buf.append(s[pos])
                pos += 1
            pos += 1
            args.append(Arg("string", "".join(buf)))
        elif (c == "{" or (c == "~" and s[pos + 1:pos + 2] == "{")) and _LITERAL.match(s, pos):
            m = _LITERAL.match(s, pos)
            size = int(m.group(1))
            args.append(Arg("literal", s[m.end():m.end() + size]))
            pos = m.end() + size
        else:
            start = pos
            while pos < n and s[pos] not in " \r\n" and not (s[pos] == ")" and in_list):
                pos += 1
            atom = s[start:pos]
            args.append(Arg("nil", None) if up(atom) == "NIL" else Arg("atom", atom))
    if in_list:
        raise ScriptError("unterminated list")
    return args, pos


def parse_line(s):
    return parse_args(s)[0]


def parse_reply(text):
    """A server's response as arguments; a malformed one fails the test."""
    try:
        args = parse_line(text)
    except ScriptError as e:
        raise TestFailure("unparsable reply (%s): %s" % (e, text[:300]))
    if not args or args[0].t != "atom":
        raise TestFailure("unparsable reply: " + text[:300])
    return args


# ---------------------------------------------------------------- scripts
class Untagged:
    __slots__ = ("args", "existence", "line")

    def __init__(self, args, existence, line):
        self.args, self.existence, self.line = args, existence, line


class Command:
    __slots__ = ("tag", "text", "reply", "linenum", "cur_tag")

    def __init__(self, tag, text, reply, linenum):
        self.tag, self.text, self.reply, self.linenum = tag, text, reply, linenum
        self.cur_tag = None


class Group:
    def __init__(self):
        self.conn = 0
        self.commands = []
        self.untagged = []
        self.ordered = False
        self.sleep = 0.0
        self.pending = 0
        self.have_bye = False


class Script:
    def __init__(self, path):
        self.path = path
        self.name = os.path.relpath(path, SCRIPTS_DIR) if path.startswith(SCRIPTS_DIR) else os.path.basename(path)
        self.capabilities = []
        self.connections = 1
        self.messages = None      # None: all of the mbox (scripted_test.md)
        self.state = "selected"
        self.ignore_extra_untagged = True
        self.users = {}           # connection index -> user key (e.g. "user2")
        self.groups = []
        mbox = path + ".mbox"
        self.mbox = mbox if os.path.exists(mbox) else os.path.join(os.path.dirname(path), "default.mbox")
        if not os.path.exists(self.mbox):
            self.mbox = os.path.join(SCRIPTS_DIR, "default.mbox")
        self.banner_check = False


STATES = ("nonauth", "auth", "created", "appended", "selected")


def _reply_word(word):
    w = word.lower()
    if w in ("ok", "no", "bad"):
        return w
    if word == '""':
        return ""
    return None


def _split_reply(line):
    """[tagN] ok|no|bad|"" rest -> (tag, reply_word, rest) or None."""
    tag = 0
    words = line.split(" ", 1)
    first = words[0]
    if first.lower().startswith("tag") and first[3:].isdigit() and int(first[3:]) > 0 and len(words) > 1:
        tag = int(first[3:])
        line = words[1]
        words = line.split(" ", 1)
    r = _reply_word(words[0])
    if r is None:
        return tag, None, line
    return tag, r, words[1] if len(words) > 1 else ""


class _Parser:
    def __init__(self, script, env):
        self.s = script
        self.env = env
        self.group = None
        self.ifstack = []
        self.skip = False

    def header(self, line):
        if ":" not in line:
            raise ScriptError("missing ':' in header line: " + line)
        key, value = line.split(":", 1)
        key, value = key.strip().lower(), value.strip()
        s = self.s
        if key == "capabilities":
            s.capabilities = value.split()
        elif key == "connections":
            s.connections = int(value)
        elif key == "ignore_extra_untagged":
            s.ignore_extra_untagged = value[:1] == "y"
        elif key.startswith("user ") and key[5:].isdigit():
            s.users[int(key[5:]) - 1] = value.lstrip("$").strip("{}")
        elif key == "messages":
            s.messages = None if value == "all" else int(value)
        elif key == "state":
            if value.lower() not in STATES:
                raise ScriptError("unknown state " + value)
            s.state = value.lower()
        else:
            raise ScriptError("unknown header " + key)

    def preprocess(self, line):
        for word in ("!ifenv ", "!ifnenv "):
            if line.startswith(word):
                name = line[len(word):].strip()
                have = name in self.env
                run = have if word == "!ifenv " else not have
                self.ifstack.append([self.skip, False])
                if not run:
                    self.skip = True
                return True
        if line == "!else":
            if not self.ifstack or self.ifstack[-1][1]:
                raise ScriptError("!else without !ifenv")
            self.ifstack[-1][1] = True
            if not self.ifstack[-1][0]:
                self.skip = not self.skip
            return True
        if line == "!endif":
            if not self.ifstack:
                raise ScriptError("!endif without !ifenv")
            self.skip = self.ifstack.pop()[0]
            return True
        return False

    def untagged(self, line):
        existence = {"* ": "must", "! ": "mustnot", "? ": "may"}[line[:2]]
        args = parse_line(line[2:])
        name = ""
        if args and args[0].t == "atom":
            name = args[0].v
            if name[:1] == "$" or name[:1].isdigit():
                name = args[1].v if len(args) > 1 and args[1].t == "atom" else ""
        _add_default_directives(args, name.lower())
        if up(name).startswith("BYE") and existence == "must":
            self.group.have_bye = True
        self.group.untagged.append(Untagged(args, existence, line))

    def command(self, linenum, line):
        s = self.s
        g = self.group
        if g is not None:
            if line.startswith("!sleep "):
                g.sleep = float(re.sub(r"[^0-9.]", "", line[7:]) or 0) / (1000 if "ms" in line else 1)
                return
            if line.startswith("!output "):
                return
            if line == "!ordered":
                g.ordered = True
                return
            if line[:2] in ("* ", "! ", "? "):
                return self.untagged(line)
            if g.pending > 0:
                rest = line
                conn = None
                if s.connections > 1:
                    first = line.split(" ", 1)
                    if first[0].isdigit() and int(first[0]) > 0:
                        conn = int(first[0]) - 1
                        rest = first[1] if len(first) > 1 else ""
                tag, reply, tail = _split_reply(rest)
                if reply is not None:
                    if s.connections > 1 and conn != g.conn:
                        raise ScriptError("line %d: reply for the wrong connection" % linenum)
                    for c in g.commands:
                        if c.tag == tag:
                            break
                    else:
                        raise ScriptError("line %d: reply for unknown tag" % linenum)
                    if c.reply is not None:
                        raise ScriptError("line %d: command already has a reply" % linenum)
                    args = parse_line(rest)
                    c.reply = args[1:] if tag else args
                    g.pending -= 1
                    return
        if g is None or g.pending == 0:
            g = self.group = Group()
            s.groups.append(g)
        if s.connections > 1:
            first = line.split(" ", 1)
            if not first[0].isdigit() or int(first[0]) == 0:
                raise ScriptError("line %d: missing connection number" % linenum)
            idx = int(first[0]) - 1
            if g.commands and g.conn != idx:
                raise ScriptError("line %d: pipelined commands on different connections" % linenum)
            g.conn = idx
            s.connections = max(s.connections, idx + 1)
            line = first[1] if len(first) > 1 else ""
        tag, reply, rest = _split_reply(line)
        if tag == 0 and g.pending > 0:
            raise ScriptError("line %d: missing reply of the previous command" % linenum)
        if tag and any(c.tag == tag for c in g.commands):
            raise ScriptError("line %d: tag reused in a group" % linenum)
        if not g.commands and rest[:2] in ("* ", "! ", "? "):
            s.banner_check = True
            return self.untagged(rest)
        cmd = Command(tag, rest, [Arg("atom", reply)] if reply is not None else None, linenum)
        if reply is None:
            g.pending += 1
        g.commands.append(cmd)


def _read_logical_lines(data):
    """Yield (linenum, line): joins {{{ ... }}} blocks into IMAP literals."""
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].rstrip("\r") if not lines[i].endswith("{{{") else lines[i]
        i += 1
        if not line.endswith("{{{"):
            yield start, line
            continue
        out = ""
        while line.endswith("{{{"):
            binary = line.endswith("~{{{")
            out += line[:-4] if binary else line[:-3]
            # Each line keeps its own bytes (a CR in a ~{{{ line is data) and
            # gets CRLF, or LF in a binary block; the last line's is dropped.
            body = []
            while i < len(lines) and not lines[i].startswith("}}}"):
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ScriptError("multiline literal at line %d not ended" % start)
            text = ("\n" if binary else "\r\n").join(body)
            out += "%s{%d}\r\n%s" % ("~" if binary else "", len(text), text)
            line = lines[i][3:]
            i += 1
        yield start, out + line


def parse_script(path, env=None):
    with open(path, "rb") as f:
        data = f.read().decode("latin-1")
    script = Script(path)
    p = _Parser(script, os.environ if env is None else env)
    header = True
    for linenum, line in _read_logical_lines(data):
        if line == "":
            header = False
            continue
        if line.startswith("#"):
            continue
        if header:
            p.header(line)
            continue
        if p.preprocess(line) or p.skip:
            continue
        p.command(linenum, line)
    if not script.groups:
        raise ScriptError("no commands")
    if script.groups[-1].pending:
        raise ScriptError("missing reply of the last command")
    if p.ifstack:
        raise ScriptError("!ifenv not closed")
    has_logout = any(c.text.lower() == "logout" or g.have_bye for g in script.groups for c in g.commands)
    if not has_logout:
        g = Group()
        g.commands.append(Command(0, "logout", [Arg("atom", "ok")], 0))
        script.groups.append(g)
    return script


def _directive(args, text):
    args.insert(0, Arg("atom", text))


def _add_default_directives(args, reply, parent=None, chain_idx=0, prev_atom=None):
    """Apply the per-reply default list directives (scripted_test.md) to an
    untagged expectation in place; recursion mirrors the reply's structure."""
    ctx = {"parent": parent, "idx": chain_idx, "prev": prev_atom, "chain": 1}
    has = False
    for a in args:
        if a.t == "atom" and a.v.startswith("$!"):
            has = True
            m = re.match(r"\$!unordered=(\d+)$", a.v)
            if m:
                ctx["chain"] = int(m.group(1))
        else:
            break
    if not has and parent is not None:
        pp = parent["parent"]
        if reply in ("list", "lsub"):
            if pp is None and parent["idx"] == 0 and chain_idx == 1:
                _directive(args, "$!unordered")
        elif reply == "status":
            if pp is None and parent["idx"] == 0 and chain_idx == 2:
                _directive(args, "$!unordered=2")
        elif reply == "fetch":
            if pp is None and parent["idx"] == 0 and chain_idx == 2:
                _directive(args, "$!unordered=2")
            elif (pp is not None and pp["parent"] is None and pp["idx"] == 0 and parent["idx"] == 2
                  and prev_atom == "flags"):
                for d in ("$HasNoAttachment", "$HasAttachment", "\\recent"):
                    _directive(args, "$!ignore=" + d)
                _directive(args, "$!noextra")
                _directive(args, "$!unordered")
    prev = None
    for i, a in enumerate(args):
        if a.t == "atom":
            prev = a.v.lower()
        if a.t != "list":
            continue
        idx = i if ctx["chain"] == 1 else i % ctx["chain"]
        _add_default_directives(a.v, reply, ctx, idx, prev)


# ---------------------------------------------------------------- messages
_FROM_LINE = re.compile(
    r"^From \S+ +[A-Z][a-z]{2} +([A-Z][a-z]{2}) +(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2}) (\d{4})(?: ([+-]\d{4}))?\s*$")
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


class MboxSource:
    """The messages of an mbox, endlessly (wraps around), as imaptest appends
    them: CRLF line ends, the INTERNALDATE from the From_ line (a From_ line
    without a zone is taken as UTC)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read().decode("latin-1")
        self.messages = []
        cur, date = None, None
        for line in data.split("\n"):
            m = _FROM_LINE.match(line.rstrip("\r"))
            if m and (cur is None or cur):
                if cur is not None:
                    self.messages.append((self._crlf(cur), date))
                mon, day, hh, mi, ss, year, zone = m.groups()
                date = "%02d-%s-%s %02d:%s:%s %s" % (int(day), mon, year, int(hh), mi, ss, zone or "+0000")
                cur = []
            elif cur is not None:
                cur.append(line)
        if cur:
            # the text after the last newline (normally empty) is no line
            if cur[-1] == "":
                cur.pop()
                self.messages.append(("".join(x.rstrip("\r") + "\r\n" for x in cur), date))
            else:
                self.messages.append((self._crlf(cur), date))
        if not self.messages:
            raise ScriptError("no messages in " + path)
        self.next = 0

    @staticmethod
    def _crlf(lines):
        return "".join(x.rstrip("\r") + "\r\n" for x in lines)

    def get(self):
        msg = self.messages[self.next % len(self.messages)]
        self.next += 1
        return msg

    def __len__(self):
        return len(self.messages)


# ---------------------------------------------------------------- connection
class Connection:
    def __init__(self, host, port, idx, timeout=REPLY_TIMEOUT):
        self.idx = idx
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.exists = 0
        self.capabilities = []
        self.closed = False
        self.ntag = 0
        self.seen_bye = False
        self.mailbox = None         # selected (from the last SELECT/EXAMINE sent)
        self.uidvalidity = None

    def new_tag(self):
        self.ntag += 1
        return "%d.%d" % (self.idx + 1, self.ntag)

    def send(self, data):
        try:
            self.sock.sendall(data.encode("latin-1"))
        except OSError as e:
            raise TestFailure("connection %d: send failed: %s" % (self.idx + 1, e))

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TestFailure("connection %d: no reply within %d s" % (self.idx + 1, REPLY_TIMEOUT))
        except OSError as e:
            chunk = b""
        if not chunk:
            self.closed = True
            raise EOFError()
        self.buf += chunk

    def read_response(self):
        """One complete response (with its literals) as latin-1 text."""
        out = []
        while True:
            while b"\r\n" not in self.buf:
                if len(self.buf) > MAX_LINE:
                    raise TestFailure("reply line too long")
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("latin-1")
            out.append(text + "\r\n")
            m = re.search(r"~?\{(\d+)\}$", text)
            if not m:
                return "".join(out)
            size = int(m.group(1))
            if size > MAX_LITERAL:
                raise TestFailure("literal too large")
            while len(self.buf) < size:
                self._fill()
            out.append(self.buf[:size].decode("latin-1"))
            self.buf = self.buf[size:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


# ---------------------------------------------------------------- matching
_VAR = re.compile(r"[A-Za-z0-9_]*")


class Result:
    def __init__(self, name, status, message="", failures=None):
        self.name, self.status, self.message = name, status, message
        self.failures = failures or []

    def __repr__(self):
        return "<%s %s>" % (self.name, self.status)


class Runner:
    """Runs one parsed script against a server."""

    def __init__(self, script, server):
        self.script = script
        self.server = server
        self.vars = {}
        self.added = []
        self.failures = []
        self.conns = []
        self.seqmap = []
        self.modseq_idx = 0
        self.modseq_value = 0
        self.group_idx = 0
        self.init_done = False
        self.cur_group = None
        self.recent = {}            # (mailbox, uidvalidity, uid) -> connection that saw \Recent

    # --- variables ----------------------------------------------------
    def rel_seq(self, n):
        if n == 0:
            return "<zero seq>"
        if n > len(self.seqmap):
            return "<out of range>"
        return "<expunged>" if self.seqmap[n - 1] == 0 else str(self.seqmap[n - 1])

    def expand_all(self, line):
        """Expand $vars in a command line; an unknown one fails the test."""
        out = []
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if c != "$" or i + 1 == n:
                out.append(c)
                i += 1
                continue
            i += 1
            if line[i] == "$":
                out.append("$")
                i += 1
                continue
            if line[i] == "!":
                while i < n and line[i] != " ":
                    i += 1
                i += 1
                continue
            if line[i] == "{":
                end = line.find("}", i)
                if end < 0:
                    raise TestFailure("missing '}' in " + line)
                name, i = line[i + 1:end], end + 1
            else:
                name = _VAR.match(line, i).group(0)
                i += len(name)
            if name.isdigit():
                out.append(self.rel_seq(int(name)))
            elif name in self.vars:
                out.append(self.vars[name])
            else:
                raise TestFailure("uninitialized variable $%s in: %s" % (name, line))
        return "".join(out)

    def _modseq(self, idx, value):
        if not value.isdigit():
            return "$modseq-not-number"
        v = int(value)
        if self.modseq_idx > idx:
            return "$modseq-order-mismatch"
        least = self.modseq_value + (idx - self.modseq_idx)
        ret = value
        if v < least:
            ret = "$modseq-at-least-%d" % least
            v = least
        self.modseq_idx, self.modseq_value = idx, v
        return ret

    def expand_input(self, pat, inp):
        """Match pattern pat (with $variables) against the input text; unknown
        variables take their value from the input. Returns (expanded, icase)
        or (None, icase) on a mismatch."""
        icase = True
        out = []
        i = j = 0
        n = len(pat)
        while i < n:
            if pat[i] != "$" or pat[i + 1:i + 2] == "$":
                if pat[i] == "$":
                    i += 1
                if j >= len(inp) or up(pat[i]) != up(inp[j]):
                    return None, icase
                out.append(pat[i])
                i += 1
                j += 1
                continue
            i += 1
            if pat[i:i + 1] == "{":
                end = pat.find("}", i)
                if end < 0:
                    return "", icase
                name, i = pat[i + 1:end], end + 1
            else:
                name = _VAR.match(pat, i).group(0)
                i += len(name)
            if name.isdigit() and name:
                value = self.rel_seq(int(name))
            elif name.startswith("case:"):
                icase = False
                value = name[5:]
            else:
                value = self.vars.get(name) if name else None
                if value is None:
                    rest = pat[i:]
                    if rest.startswith("$"):
                        sub, ic = self.expand_input(rest, inp[j:])
                        rest = sub or ""
                    else:
                        ic = True
                    k = j
                    if rest:
                        stop = rest[0]
                        while k < len(inp) and (up(inp[k]) != up(stop) if ic else inp[k] != stop):
                            k += 1
                    else:
                        k = len(inp)
                    value = inp[j:k]
                    m = re.match(r"modseq(\d+)$", name)
                    if not name:
                        pass
                    elif m:
                        value = self._modseq(int(m.group(1)), value)
                        self.vars[name] = value
                    else:
                        self.vars[name] = value
                        self.added.append(name)
            out.append(value)
            if inp[j:j + len(value)] != value:
                return None, icase
            j += len(value)
        return "".join(out), icase

    def match_list(self, match, args):
        unordered = False
        chain = 1
        ignores, bans = [], []
        noextra = None
        k = 0
        while k < len(match) and match[k].t == "atom" and match[k].v.startswith("$!"):
            d = match[k].v[2:]
            if d.startswith("unordered"):
                unordered = True
                if noextra is None:
                    noextra = False
                if d[9:10] == "=":
                    chain = int(d[10:])
            elif d == "ordered":
                unordered = False
            elif d == "extra":
                noextra = False
            elif d == "noextra":
                noextra = True
            elif d.startswith("ignore="):
                ignores.append(up(d[7:]))
            elif d.startswith("ban="):
                bans.append(up(d[4:]))
            else:
                raise ScriptError("unknown directive " + d)
            k += 1
        match = match[k:]
        if noextra is None:
            noextra = True
        if not unordered:
            return self.match_args(match, args, None, False)
        if len(args) % chain:
            return 0
        matched = [False] * len(args)
        ret = 0
        for m in range(0, len(match), chain):
            for i in range(0, len(args), chain):
                if self.match_args(match[m:m + chain], args[i:i + chain], chain, False) is True:
                    matched[i] = True
                    break
            else:
                return ret
            ret += 1
        for i in range(0, len(args), chain):
            if matched[i]:
                continue
            s = args[i].astring()
            if s is None:
                continue
            if noextra and up(s) not in ignores:
                return ret
            if not noextra and up(s) in bans:
                return ret
        return True

    def match_args(self, match, args, limit, prefix):
        """True on a match, else how many leading arguments matched."""
        ret = 0
        j = 0
        for mi, m in enumerate(match):
            if limit is not None and mi >= limit:
                break
            a = args[j] if j < len(args) else None
            if m.t == "nil":
                if a is None or a.t != "nil":
                    return ret
            elif m.t == "list":
                if a is None or a.t != "list":
                    return ret
                sub = self.match_list(m.v, a.v)
                if sub is not True:
                    return ret + sub
            else:
                if m.v == "$" and a is not None and a.t == "list":
                    pass
                elif m.v == "$]":
                    while j < len(args) and args[j].t == "atom" and "]" not in args[j].v:
                        j += 1
                else:
                    s = a.astring() if a is not None else None
                    if s is None:
                        return ret
                    exp, icase = self.expand_input(m.astring(), s)
                    if exp is None:
                        return ret
                    if prefix and mi == len(match) - 1:
                        ok = up(s).startswith(up(exp)) if icase else s.startswith(exp)
                    else:
                        ok = up(s) == up(exp) if icase else s == exp
                    if not ok:
                        return ret
            ret += 1
            j += 1
        if prefix or j >= len(args) or (limit is not None and len(match) >= limit):
            return True
        return ret

    # --- one command group --------------------------------------------
    def fail(self, group, msg):
        cmd = group.commands[0] if group.commands else None
        where = "line %d: %s" % (cmd.linenum, cmd.text[:300]) if cmd and cmd.linenum else \
            (cmd.text if cmd else "banner")
        self.failures.append("group %d/%d (%s)\n  %s" % (self.group_idx + 1, len(self.script.groups),
                                                         where, msg.replace("\n", "\n  ")))

    def handle_untagged(self, conn, group, args, state):
        """Match one untagged reply of the current group's connection."""
        if not group.untagged:
            if not self.script.ignore_extra_untagged and state["first_extra"] is None:
                state["first_extra"] = args_str(args)
            return
        prefix = bool(args and args[0].t == "atom" and up(args[0].v) in ("OK", "NO", "BAD", "BYE"))
        tag = group.commands[0].cur_tag if group.commands else None
        found_some = False
        for i, ut in enumerate(group.untagged):
            if state["found"][i]:
                continue
            if tag is not None:
                self.vars["tag"] = tag
            self.added = []
            r = self.match_args(ut.args, args, None, prefix)
            self.vars.pop("tag", None)
            if r is True:
                if ut.existence == "mustnot":
                    self.fail(group, "unexpected untagged reply (banned by '! ')\n"
                              "  banned:   %s\n  received: %s" % (ut.line, args_str(args)[:2000]))
                    state["found"][i] = True
                    return
                state["found"][i] = True
                found_some = True
                if group.ordered:
                    break
                continue
            if r > state["best"][i][0]:
                state["best"][i] = (r, args_str(args))
            for name in self.added:
                self.vars.pop(name, None)
            self.added = []
            if group.ordered and ut.existence == "must":
                break
        if not found_some:
            state["mismatches"] += 1
            if not self.script.ignore_extra_untagged and state["first_extra"] is None:
                state["first_extra"] = args_str(args)

    def track(self, conn, args):
        """The little state a client keeps: EXISTS count, EXPUNGE, BYE, CAPABILITY."""
        if len(args) >= 2 and args[0].t == "atom" and args[0].v.isdigit() and args[1].t == "atom":
            n, what = int(args[0].v), up(args[1].v)
            if what == "EXISTS":
                conn.exists = n
            elif what == "EXPUNGE":
                conn.exists = max(0, conn.exists - 1)
                return n
            elif what == "FETCH" and len(args) > 2 and args[2].t == "list":
                self.track_recent(conn, args[2].v)
        elif args and args[0].t == "atom":
            what = up(args[0].v)
            if what == "OK" and len(args) > 2 and up(args[1].astring() or "") == "[UIDVALIDITY":
                conn.uidvalidity = (args[2].astring() or "").rstrip("]")
            if what == "BYE":
                conn.seen_bye = True
            elif what == "CAPABILITY":
                conn.capabilities = [up(a.v) for a in args[1:] if a.t == "atom"]
            elif what == "OK" and len(args) > 1 and up(args[1].astring() or "").startswith("[CAPABILITY"):
                caps = []
                for a in args[2:]:
                    if a.t != "atom":
                        break
                    caps.append(up(a.v.rstrip("]")))
                    if a.v.endswith("]"):
                        break
                conn.capabilities = caps
        return None

    def track_recent(self, conn, items):
        """Only one session may see a message as \\Recent (RFC 3501 2.3.2):
        a FETCH with UID and FLAGS (\\Recent) on two connections for the
        same UID of the same mailbox fails the test (imaptest's state
        tracking catches this; the append script counts on it)."""
        uid = flags = None
        for k in range(0, len(items) - 1, 2):
            key = up(items[k].astring() or "")
            if key == "UID":
                uid = items[k + 1].astring()
            elif key == "FLAGS" and items[k + 1].t == "list":
                flags = [up(f.astring() or "") for f in items[k + 1].v]
        if uid is None or flags is None or "\\RECENT" not in flags or conn.mailbox is None:
            return
        key = (up(conn.mailbox), conn.uidvalidity, uid)
        other = self.recent.setdefault(key, conn.idx)
        if other != conn.idx and self.cur_group is not None:
            self.fail(self.cur_group, "\\Recent for UID %s of %s in two sessions (connections %d and %d)"
                      % (uid, conn.mailbox, other + 1, conn.idx + 1))

    def note_select(self, conn, command):
        """Remember which mailbox a SELECT/EXAMINE opens (for \\Recent)."""
        try:
            args = parse_line(command)
        except ScriptError:
            return
        if len(args) >= 2 and args[0].t == "atom" and up(args[0].v) in ("SELECT", "EXAMINE"):
            conn.mailbox = args[1].astring()
            conn.uidvalidity = None

    def expunged(self, seq):
        for i, s in enumerate(self.seqmap):
            if s > seq:
                self.seqmap[i] = s - 1
            elif s == seq:
                self.seqmap[i] = 0

    def send_command(self, conn, cmd, group, state):
        text = self.expand_all(cmd.text)
        self.note_select(conn, text)
        tag = conn.new_tag()
        cmd.cur_tag = tag
        low = text.lower()
        if low == "append" or (low.startswith("append ") and not _append_has_body(text[7:])):
            body, date = self.source.get()
            if low == "append":
                line = 'APPEND %s "%s"' % (quote(self.vars["mailbox"]), date)
            else:
                line = "APPEND " + text[7:]
            chunks = ["%s %s {%d}\r\n" % (tag, line, len(body)), body + "\r\n"]
        else:
            chunks = _split_literals("%s %s\r\n" % (tag, text))
        state["pending"][tag] = cmd
        for k, chunk in enumerate(chunks):
            conn.send(chunk)
            if k + 1 < len(chunks) and not self.wait_continuation(conn, group, state, tag):
                break

    def wait_continuation(self, conn, group, state, tag):
        while tag in state["pending"]:
            text = self.read(conn, group, state)
            if text is None:
                return False
            if text.startswith("+"):
                return True
        return False

    def read(self, conn, group, state):
        """Read and dispatch one response; returns its text ('+ ...' for a
        continuation), or None when the connection is gone."""
        try:
            text = conn.read_response()
        except EOFError:
            return None
        if text.startswith("+"):
            return text
        args = parse_reply(text)
        if args[0].v == "*":
            self.handle_untagged(conn, group, args[1:], state)
            seq = self.track(conn, args[1:])
            if seq is not None:
                self.expunged(seq)
            return text
        cmd = state["pending"].pop(args[0].v, None)
        if cmd is None:
            raise TestFailure("reply with an unknown tag: " + text[:300])
        self.vars["tag"] = args[0].v
        self.added = []
        r = self.match_args(cmd.reply, args[1:], None, True)
        self.vars.pop("tag", None)
        if r is not True:
            self.fail(group, "tagged reply mismatch\n  command:  %s %s\n  expected: %s\n  received: %s"
                      % (args[0].v, self.expand_all_safe(cmd.text)[:500], args_str(cmd.reply) or '""',
                         text.rstrip("\r\n")[:500]))
        return text

    def expand_all_safe(self, text):
        try:
            return self.expand_all(text)
        except TestFailure:
            return text

    def run_group(self, group):
        self.cur_group = group
        conn = self.conns[group.conn]
        state = {"found": [False] * len(group.untagged), "best": [(-1, "")] * len(group.untagged),
                 "pending": {}, "mismatches": 0, "first_extra": None}
        self.seqmap = list(range(1, conn.exists + 1))
        if not group.commands:
            # banner check: the banner was read at connect time
            for args in self.banners[group.conn:group.conn + 1]:
                self.handle_untagged(conn, group, args, state)
        elif conn.closed:
            self.fail(group, "connection %d is closed" % (group.conn + 1))
            return
        for cmd in group.commands:
            self.send_command(conn, cmd, group, state)
        while state["pending"]:
            if self.read(conn, group, state) is None:
                if group.have_bye and conn.seen_bye:
                    for c in state["pending"].values():
                        if not (len(c.reply) == 1 and c.reply[0].v == ""):
                            self.fail(group, "connection closed after BYE: only \"\" may be "
                                      "expected as tagged reply, not %s" % args_str(c.reply))
                    state["pending"].clear()
                    break
                raise TestFailure("connection %d closed unexpectedly (%s)"
                                  % (group.conn + 1, group.commands[0].text[:200]))
        self.check_missing(group, state)
        if group.sleep:
            time.sleep(group.sleep)

    def check_missing(self, group, state):
        missing = [i for i, ut in enumerate(group.untagged)
                   if ut.existence == "must" and not state["found"][i]]
        if missing:
            lines = []
            for i in missing[:5]:
                ut = group.untagged[i]
                exp = self.expand_all_lenient(args_str(ut.args))
                lines.append("expected: %s\n    expanded:   %s\n    best match: %s"
                             % (ut.line[:1000], exp[:1000], state["best"][i][1][:1000] or "(none)"))
            self.fail(group, "missing %d untagged replies (%d other replies did not match)\n  %s"
                      % (len(missing), state["mismatches"], "\n  ".join(lines)))
        if state["first_extra"] is not None:
            self.fail(group, "unexpected untagged replies; the first: " + state["first_extra"][:1000])

    def expand_all_lenient(self, text):
        out = []
        for tok in re.split(r"(\$\$|\$!\S*|\$\{[^}]*\}|\$[A-Za-z0-9_]*)", text):
            if tok.startswith("$") and tok != "$$" and not tok.startswith("$!"):
                name = tok[1:].strip("{}")
                if name.isdigit():
                    tok = self.rel_seq(int(name))
                elif name in self.vars:
                    tok = self.vars[name]
            out.append(tok)
        return "".join(out)

    # --- set-up -------------------------------------------------------
    def simple(self, conn, line, allow_no=False):
        """Send a set-up command and wait for its tagged reply."""
        tag = conn.new_tag()
        conn.send("%s %s\r\n" % (tag, line))
        untagged = []
        while True:
            try:
                text = conn.read_response()
            except EOFError:
                raise TestFailure("set-up: connection closed after: " + line)
            args = parse_reply(text)
            if text.startswith("+"):
                raise TestFailure("set-up: unexpected continuation after: " + line)
            if args[0].v == "*":
                self.track(conn, args[1:])
                untagged.append(args[1:])
                continue
            if args[0].v != tag:
                raise TestFailure("set-up: unexpected tagged reply: " + text[:300])
            status = up(args[1].v) if len(args) > 1 and args[1].t == "atom" else ""
            if status != "OK" and not (allow_no and status == "NO"):
                raise TestFailure("set-up: %s failed: %s" % (line, text.strip()))
            return untagged

    def append_message(self, conn, mailbox):
        body, date = self.source.get()
        tag = conn.new_tag()
        conn.send('%s APPEND %s "%s" {%d}\r\n' % (tag, quote(mailbox), date, len(body)))
        while True:
            text = conn.read_response()
            if text.startswith("+"):
                break
            args = parse_reply(text)
            if args[0].v == tag:
                raise TestFailure("set-up: APPEND refused: " + text.strip())
            self.track(conn, args[1:])
        conn.send(body + "\r\n")
        while True:
            text = conn.read_response()
            args = parse_reply(text)
            if args[0].v == "*":
                self.track(conn, args[1:])
                continue
            if len(args) < 2 or up(args[1].v or "") != "OK":
                raise TestFailure("set-up: APPEND failed: " + text.strip())
            return

    def setup(self):
        s = self.script
        srv = self.server
        mailbox = srv.mailbox
        self.vars.update({"mailbox": mailbox, "mailbox_url": url_path(mailbox)})
        self.banners = []
        for i in range(s.connections):
            key = s.users.get(i)
            user = srv.user_for(key)
            conn = Connection(srv.host, srv.port, i)
            self.conns.append(conn)
            banner = conn.read_response()
            args = parse_reply(banner)
            self.track(conn, args[1:])
            self.banners.append(args[1:])
            suffix = "" if i == 0 else str(i + 1)
            self.vars["user" + suffix] = user[0]
            self.vars["username" + suffix] = user[0].split("@")[0]
            self.vars["domain" + suffix] = user[0].split("@", 1)[1] if "@" in user[0] else srv.host
            self.vars["password" + suffix] = user[1]
            conn.user = user
        first = self.conns[0]
        if s.state == "nonauth":
            if not first.capabilities:
                self.simple(first, "CAPABILITY")
            return self.have_caps(first)
        for conn in self.conns:
            self.simple(conn, "LOGIN %s %s" % (quote(conn.user[0]), quote(conn.user[1])))
        self.simple(first, "CAPABILITY")
        if not self.have_caps(first):
            return False
        boxes = set()
        for args in self.simple(first, 'LIST "" %s' % quote(mailbox + "*")):
            if len(args) >= 4 and up(args[0].v or "") == "LIST" and args[3].astring() is not None:
                boxes.add(args[3].astring())
        subs = set()
        for args in self.simple(first, 'LSUB "" %s' % quote(mailbox + "*")):
            if len(args) >= 4 and up(args[0].v or "") == "LSUB" and args[3].astring() is not None:
                subs.add(args[3].astring())
        for box in sorted(boxes, key=up, reverse=True):
            self.simple(first, "DELETE " + quote(box), allow_no=True)
        for box in sorted(subs, key=up, reverse=True):
            self.simple(first, "UNSUBSCRIBE " + quote(box), allow_no=True)
        if STATES.index(s.state) >= STATES.index("created") and up(mailbox) != "INBOX":
            self.simple(first, "CREATE " + quote(mailbox))
        if STATES.index(s.state) >= STATES.index("appended"):
            count = len(self.source) if s.messages is None else s.messages
            for _ in range(count):
                self.append_message(first, mailbox)
        if s.state == "selected":
            for conn in self.conns:
                if conn.user != first.user:
                    # another user (urlauth2's "user 2: $user2") has no
                    # $mailbox of the first one's: make it (imaptest relies
                    # on one left by earlier runs).
                    self.simple(conn, "CREATE " + quote(mailbox), allow_no=True)
                conn.exists = 0
                self.note_select(conn, "SELECT " + quote(mailbox))
                self.simple(conn, "SELECT " + quote(mailbox))
        return True

    def have_caps(self, conn):
        if any(self.server.user_for(k) is None for k in self.script.users.values()):
            self.skip_reason = "needs a second user"
            return False
        have = set(conn.capabilities)
        missing = [c for c in self.script.capabilities if up(c) not in have]
        if missing:
            self.skip_reason = "server lacks " + " ".join(missing)
            return False
        return True

    def run(self):
        self.source = MboxSource(self.script.mbox)
        self.skip_reason = ""
        try:
            try:
                if not self.setup():
                    for conn in self.conns:
                        try:
                            self.simple(conn, "LOGOUT")
                        except (TestFailure, OSError):
                            pass
                    return Result(self.script.name, "skip", self.skip_reason)
            except (TestFailure, OSError, EOFError) as e:
                return Result(self.script.name, "fail", "initialization failed: %s" % e, [str(e)])
            self.init_done = True
            for self.group_idx, group in enumerate(self.script.groups):
                try:
                    self.run_group(group)
                except (TestFailure, OSError) as e:
                    self.fail(group, str(e))
                    break
        finally:
            for conn in self.conns:
                conn.close()
        if self.failures:
            return Result(self.script.name, "fail", "\n".join(self.failures[:8]), self.failures)
        return Result(self.script.name, "pass")


def _append_has_body(argtext):
    """APPEND arguments with their own message (a literal or CATENATE)?"""
    try:
        args = parse_line(argtext)
    except ScriptError:
        return False
    if not args:
        return False
    k = 0
    if k + 1 < len(args) and args[k + 1].t == "list":
        k += 1
    if k + 1 < len(args) and args[k + 1].t == "string":
        k += 1
    if k + 1 >= len(args):
        return False
    nxt = args[k + 1]
    return nxt.t == "literal" or (nxt.t == "atom" and up(nxt.v) == "CATENATE")


def _split_literals(data):
    """Cut a command after each synchronizing literal header ({n} CRLF):
    the next piece is sent only after the server's continuation."""
    chunks = []
    start = 0
    for m in re.finditer(r"~?\{(\d+)\}\r\n", data):
        chunks.append(data[start:m.end()])
        start = m.end()
    chunks.append(data[start:])
    return [c for c in chunks if c] or [data]


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def url_path(mailbox):
    out = []
    for ch in mailbox:
        if ch.isalnum() or ch in "-._~!$&'()*+,=:@":
            out.append(ch)
        else:
            out.append("%%%02X" % ord(ch))
    return "".join(out)


class Server:
    """Where and as whom to run: users maps "user" (and "user2", ...) to
    (login, password); a script that needs a missing one is skipped."""

    def __init__(self, host, port, user, password, mailbox=DEFAULT_MAILBOX, users=None):
        self.host, self.port, self.mailbox = host, port, mailbox
        self.users = {"user": (user, password)}
        if users:
            self.users.update(users)

    def user_for(self, key):
        return self.users.get(key or "user")


def list_scripts(directory=SCRIPTS_DIR):
    """Every script (sorted), as imaptest picks them: files without .mbox."""
    names = []
    for name in sorted(os.listdir(directory)):
        p = os.path.join(directory, name)
        if name.startswith(".") or name.endswith(".mbox") or not os.path.isfile(p):
            continue
        if name.endswith(".md") or name.startswith("COPYING"):
            continue
        names.append(name)
    return names


def run_script(path, server, env=None):
    """Parse and run one script; a script the runner cannot parse fails."""
    try:
        script = parse_script(path, env)
    except (ScriptError, ValueError) as e:
        return Result(os.path.basename(path), "fail", "script parse error: %s" % e)
    return Runner(script, server).run()


def main(argv=None):
    """python3 tests/integration/imaptest.py HOST:PORT USER PASSWORD [SCRIPT...]
    runs the scripts (all by default) against a server and prints a summary
    like imaptest's; exit status 1 when any failed."""
    import argparse
    ap = argparse.ArgumentParser(description="Replay imaptest scripts against an IMAP server.")
    ap.add_argument("server", help="host:port")
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("scripts", nargs="*", help="script names or paths (default: all)")
    ap.add_argument("--user2", nargs=2, metavar=("USER", "PASSWORD"), help="second user ($user2)")
    ap.add_argument("--mailbox", default=DEFAULT_MAILBOX, help="test mailbox (deleted and recreated)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print failure details")
    a = ap.parse_args(argv)
    host, port = a.server.rsplit(":", 1)
    server = Server(host, int(port), a.user, a.password, a.mailbox,
                    {"user2": tuple(a.user2)} if a.user2 else None)
    names = a.scripts or list_scripts()
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for name in names:
        path = name if os.path.sep in name else os.path.join(SCRIPTS_DIR, name)
        t0 = time.time()
        r = run_script(path, server)
        counts[r.status] += 1
        print("%-32s %s %6.2fs %s" % (r.name, r.status.upper(), time.time() - t0,
                                      r.message.split("\n")[0] if r.status != "pass" else ""))
        if a.verbose and r.status == "fail":
            print("    " + r.message.replace("\n", "\n    "))
    print("%d test groups: %d failed, %d skipped due to missing capabilities"
          % (len(names), counts["fail"], counts["skip"]))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
