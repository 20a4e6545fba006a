"""Reading a corpus directory into chunks: Markdown, text, reStructuredText, and HTML stripped to text.

A chunk is a run of whole paragraphs under one heading, at most `max_chars` long (a longer paragraph
is split at sentence, then word, boundaries; a code block at line boundaries). Each chunk remembers its
source path (relative to the corpus directory) and its heading path, "Guide > Install > On Linux",
which is indexed with its text and is what answers cite.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
MAX_FILE_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_CHARS = 1200

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:.])\1{2,}\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_RST_CODE_DIRECTIVE = re.compile(r"^\.\.\s+(code-block|code|sourcecode|highlight|literalinclude)::")
# Between the headings of a chunk's path (document title > section > subsection), as cited.
HEADING_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class Chunk:
    path: str  # relative to the corpus directory, with forward slashes
    title: str  # the heading path (document > section > subsection), or the file name
    text: str


# What of a chunk an embedding model reads, the bundled one or the provider's: its heading path and
# text. Part of each embedder's identity (vector_cache.py keys on it).
CHUNK_TEXT = "{title}\n{text}"


def chunk_text(chunk: Chunk) -> str:
    return CHUNK_TEXT.format(title=chunk.title, text=chunk.text)


def iter_documents(root: Path) -> Iterator[tuple[str, str]]:
    """(relative path, plain text) of every readable document under root, in a stable order.

    Hidden files and directories (.git and the like) are skipped, and so are symbolic links that
    leave the corpus directory.
    """
    if not root.is_dir():
        log.warning("corpus directory %s does not exist: answering from the FAQ only", root)
        return
    resolved_root = root.resolve()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        suffix = path.suffix.lower()
        if suffix not in TEXT_SUFFIXES and suffix not in HTML_SUFFIXES:
            continue
        try:
            if not path.is_file() or not path.resolve().is_relative_to(resolved_root):
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                log.warning("skipping %s: larger than %d bytes", relative, MAX_FILE_BYTES)
                continue
            raw = path.read_bytes()
        except OSError as error:
            log.warning("skipping %s: %s", relative, error)
            continue
        text = raw.decode("utf-8", errors="replace")
        if suffix in HTML_SUFFIXES:
            text = html_to_text(text)
        yield relative.as_posix(), text


def chunk_document(path: str, text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Split one document into chunks of whole paragraphs under their heading path."""
    default_title = Path(path).stem.replace("-", " ").replace("_", " ")
    rst = Path(path).suffix.lower() == ".rst"
    chunks: list[Chunk] = []
    for headings, paragraphs in _sections(text, rst):
        title = HEADING_SEPARATOR.join(headings) or default_title
        pieces = [piece for paragraph in paragraphs for piece in _split_long(paragraph, max_chars)]
        current: list[str] = []
        size = 0
        for piece in pieces:
            if current and size + len(piece) + 2 > max_chars:
                chunks.append(Chunk(path, title, "\n\n".join(current)))
                current, size = [], 0
            current.append(piece)
            size += len(piece) + 2
        if current:
            chunks.append(Chunk(path, title, "\n\n".join(current)))
    return chunks


def read_chunks(root: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Chunk]:
    """Every chunk of every document under root."""
    for path, text in iter_documents(root):
        yield from chunk_document(path, text, max_chars)


class _Headings:
    """The path of headings above the current line: a new heading replaces its level and those below.

    Markdown levels are the number of `#`; reStructuredText levels are the order in which each
    underline character first appears in the document, as docutils decides them.
    """

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self._rst_levels: dict[str, int] = {}

    def markdown(self, level: int, title: str) -> None:
        self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, title)]

    def rst(self, underline: str, title: str) -> None:
        level = self._rst_levels.setdefault(underline[0], len(self._rst_levels) + 1)
        self.markdown(level, title)

    def titles(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.path)


def _sections(text: str, rst: bool = False) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """(heading path, paragraphs) of each section of a Markdown, reStructuredText or plain text document.

    Code is never a heading: not in a fenced block, not in an indented block (a `# comment` there is
    code), not in a reStructuredText literal block (after `::` or a code directive), and in a `.rst`
    file a `#` line is text. A code block stays one paragraph, blank lines included.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    headings = _Headings()
    paragraphs: list[str] = []
    paragraph: list[str] = []
    fence = ""  # the fence that opened the current fenced block
    literal = False  # in an indented literal block (reStructuredText `::`, code directives)

    def end_paragraph() -> None:
        if paragraph:
            joined = "\n".join(paragraph).strip("\n")
            if joined.strip():
                paragraphs.append(joined)
            paragraph.clear()

    def new_section() -> Iterator[tuple[tuple[str, ...], list[str]]]:
        nonlocal paragraphs
        end_paragraph()
        if paragraphs:
            yield headings.titles(), paragraphs
            paragraphs = []

    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        indented = line[:1] in (" ", "\t") and stripped
        if fence:
            paragraph.append(line)
            if stripped.startswith(fence):
                fence = ""
                end_paragraph()
        elif stripped.startswith(("```", "~~~")) and not indented:
            end_paragraph()
            fence = stripped[:3]
            paragraph.append(line)
        elif literal and (indented or not stripped):
            paragraph.append(line)
        elif not rst and not line.startswith("    ") and (heading := _MD_HEADING.match(stripped)):
            literal = False
            yield from new_section()
            headings.markdown(len(heading.group(1)), heading.group(2).strip())
        elif (
            stripped
            and not indented
            and index + 1 < len(lines)
            and _RST_UNDERLINE.match(lines[index + 1].strip())
            and len(lines[index + 1].strip()) >= len(stripped)
            and not _RST_UNDERLINE.match(stripped)
        ):
            literal = False
            yield from new_section()
            headings.rst(lines[index + 1].strip(), stripped)
            index += 1  # the underline
        elif _RST_UNDERLINE.match(stripped) and not paragraph:
            pass  # an overline, or a transition
        elif not stripped:
            end_paragraph()
        else:
            if literal:  # the first line back at the margin ends the literal block
                literal = False
                end_paragraph()
            paragraph.append(line.rstrip())
            if rst and (stripped.endswith("::") or _RST_CODE_DIRECTIVE.match(stripped)):
                literal = True
                end_paragraph()
        index += 1
    yield from new_section()


def _split_long(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph as pieces of at most max_chars, cut at sentence ends, else at spaces; code at lines."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    if paragraph.lstrip().startswith(("```", "~~~")) or "\n" in paragraph.strip():
        return _split_lines(paragraph, max_chars)
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        for part in _split_words(sentence, max_chars):
            if current and len(current) + 1 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _split_lines(block: str, max_chars: int) -> list[str]:
    """A long code block (or any text of many lines) cut between lines, never inside one if it fits."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in block.split("\n"):
        for part in _split_words(line, max_chars) if len(line) > max_chars else [line]:
            if current and size + len(part) + 1 > max_chars:
                pieces.append("\n".join(current))
                current, size = [], 0
            current.append(part)
            size += len(part) + 1
    if current:
        pieces.append("\n".join(current))
    return pieces


def _split_words(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    parts: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > max_chars:  # no spaces at all: cut hard
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:max_chars])
            word = word[max_chars:]
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML page, headings as Markdown headings, blocks as paragraphs."""

    _BLOCK_TAGS = (
        "p div section article main header footer nav aside li ul ol table tr pre blockquote br hr dt dd"
    )
    _BLOCKS = frozenset(_BLOCK_TAGS.split())
    _HEADINGS = {f"h{level}": level for level in range(1, 7)}
    _SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._heading: list[str] | None = None
        self._title: list[str] | None = None
        self.title = ""
        self._pre = 0
        self.code_blocks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._title = []
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag == "pre":
            self._pre += 1
            if self._pre == 1:
                self.code_blocks.append("")
                self.parts.append(f"\n\n{_CODE_MARK}{len(self.code_blocks) - 1}{_CODE_MARK}\n\n")
        elif tag in self._HEADINGS:
            self.parts.append("\n\n")
            self._heading = []
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.title = " ".join("".join(self._title).split())
            self._title = None
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag in self._HEADINGS and self._heading is not None:
            heading = " ".join("".join(self._heading).split())
            if heading:
                self.parts.append("#" * self._HEADINGS[tag] + " " + heading + "\n\n")
            self._heading = None
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)
        if self._skipping:
            return
        if self._pre:  # preformatted text keeps its lines and spaces
            self.code_blocks[-1] += data
        elif self._heading is not None:
            self._heading.append(data)
        else:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML document; headings become Markdown headings."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text)]
    body = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
    # A <pre> block comes back as a fenced code block, its lines intact: a `# comment` or a line of
    # dashes in it is never taken for a heading, and passages are not cut inside it.
    body = _CODE_PLACEHOLDER.sub(lambda m: _fenced(parser.code_blocks[int(m.group(1))]), body)
    if parser.title and not body.lstrip().startswith("#"):
        body = f"# {parser.title}\n\n{body}"
    return body


_CODE_MARK = "\x00"
_CODE_PLACEHOLDER = re.compile(f"{_CODE_MARK}(\\d+){_CODE_MARK}")


def _fenced(code: str) -> str:
    lines = [line.rstrip() for line in code.strip("\n").split("\n")]
    return "```\n" + "\n".join(line.replace("```", "` ` `") for line in lines) + "\n```"
