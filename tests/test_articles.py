"""The sample articles: well-formed front matter, safe Markdown, crisis line and disclaimer, newest first."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

import frontmatter
import pytest
from markdown_it import MarkdownIt
from sqlalchemy import select

from intake.extensions import db
from intake.models import Article
from intake.seed import ARTICLES_DIR, load_article_files, markdown, seed_articles

FILES = sorted(ARTICLES_DIR.glob("*.md"))
FIELDS = {"title": str, "slug": str, "date": date, "author": str, "summary": str}
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# What pure Markdown (commonmark plus tables) can produce; anything else came from raw HTML.
MARKDOWN_TAGS = {"p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "blockquote", "a", "code", "pre",
                 "hr", "br", "table", "thead", "tbody", "tr", "th", "td"}


def load(path):
    return frontmatter.loads(path.read_text(encoding="utf-8"))


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", text))


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.headings: list[tuple[str, str]] = []
        self._heading: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._heading = tag
            self.headings.append((tag, ""))

    def handle_endtag(self, tag):
        if tag == self._heading:
            self._heading = None

    def handle_data(self, data):
        if self._heading:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)


def rendered(path) -> TagCollector:
    collector = TagCollector()
    collector.feed(markdown.render(load(path).content))
    return collector


def newest_first() -> list[str]:
    posts = [load(path) for path in FILES]
    return [post["slug"] for post in sorted(posts, key=lambda post: post["date"], reverse=True)]


def test_the_four_sample_articles_are_there():
    assert [path.stem for path in FILES] == [
        "how-ketamine-differs-from-common-antidepressants",
        "ketamine-and-psychotherapy-for-ptsd",
        "paying-for-ketamine-infusions",
        "what-an-infusion-visit-is-like",
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_front_matter_is_complete_and_typed(path):
    meta = load(path).metadata
    assert set(meta) == set(FIELDS)
    for name, kind in FIELDS.items():
        assert type(meta[name]) is kind, f"{name} should be {kind.__name__}, got {type(meta[name]).__name__}"
        if kind is str:
            assert meta[name].strip() == meta[name] and meta[name], f"{name} is blank or padded"
    assert SLUG.fullmatch(meta["slug"]) and meta["slug"] == path.stem
    assert date(2026, 1, 1) <= meta["date"] < date(2026, 11, 27)
    assert len(meta["title"]) <= 200 and len(meta["author"]) <= 120  # the Article columns' sizes
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", meta["summary"])) <= 2, "summary is one or two sentences"


def test_slugs_are_unique_and_dates_distinct():
    posts = [load(path) for path in FILES]
    assert len({post["slug"] for post in posts}) == len(posts)
    assert len({post["date"] for post in posts}) == len(posts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_body_is_pure_markdown(path):
    body = load(path).content
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(body)
    inline = [child for token in tokens for child in (token.children or [])]
    assert not [t for t in tokens + inline if t.type in {"html_block", "html_inline"}], "raw HTML in the source"
    page = rendered(path)
    assert set(page.tags) <= MARKDOWN_TAGS, set(page.tags) - MARKDOWN_TAGS


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_body_is_readable_on_a_phone(path):
    body = load(path).content
    assert 500 <= words(body) <= 900
    page = rendered(path)
    levels = [tag for tag, _ in page.headings]
    assert "h1" not in levels, "the page template owns the h1"
    assert levels.count("h2") >= 3
    assert not any("contact our offices" in text.lower() for _, text in page.headings), "the template adds it"
    paragraphs = [block for block in re.split(r"\n\s*\n", body) if block.strip() and not block.lstrip().startswith(("-", "1.", ">", "#"))]
    assert max(words(block) for block in paragraphs) <= 80, "keep paragraphs short"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_article_shows_the_crisis_line_and_disclaimer(path):
    html = markdown.render(load(path).content)
    text = re.sub(r"<[^>]+>", "", html)
    assert "988 Suicide & Crisis Lifeline" in text.replace("&amp;", "&")
    assert re.search(r"call or text 988", text, re.IGNORECASE)
    assert "911" in text
    assert "not medical advice" in text.lower()


def test_seed_parses_every_file():
    data = load_article_files()
    assert [item["slug"] for item in data] == [path.stem for path in FILES]
    for item in data:
        assert item["body_html"].startswith("<blockquote>") and "<h2>" in item["body_html"]


def test_seeded_articles_are_listed_newest_first_and_reseeding_changes_nothing(app):
    with app.app_context():
        listed = db.session.scalars(select(Article.slug).order_by(Article.published_on.desc())).all()
        assert listed == newest_first()
        assert seed_articles(db.session) == 0


def test_index_lists_the_articles_newest_first(client):
    html = client.get("/").get_data(as_text=True)
    positions = [html.find(f'href="/articles/{slug}"') for slug in newest_first()]
    assert -1 not in positions, positions
    assert positions == sorted(positions)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_article_page_shows_the_body_then_the_form(client, path):
    post = load(path)
    response = client.get(f"/articles/{post['slug']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    last_heading = re.findall(r"<h2>.*?</h2>", markdown.render(post.content))[-1]
    assert html.count(last_heading) == 1
    assert html.index(last_heading) < html.index("Contact our offices")
