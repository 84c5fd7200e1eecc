"""The six offices and the articles, as data plus an idempotent upsert."""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from pathlib import Path

import frontmatter
from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Article, Location, LocationInbox

logger = logging.getLogger(__name__)

ARTICLES_DIR = Path(__file__).parent / "articles"

# slug, name, ZIP, centroid of that ZIP (from the zipcodes package), address, phone, hours
LOCATIONS = [
    ("washington-dc", "Washington, DC", "20036", 38.9087, -77.0414,
     "1730 Rhode Island Ave NW, Suite 400, Washington, DC 20036", "(202) 555-0140",
     "Mon-Fri 8am-6pm, Sat 9am-1pm"),
    ("bethesda-md", "Bethesda, MD", "20814", 39.0003, -77.1022,
     "4800 Montgomery Ln, Suite 210, Bethesda, MD 20814", "(301) 555-0162",
     "Mon-Fri 8am-5pm"),
    ("columbia-md", "Columbia, MD", "21044", 39.2141, -76.8788,
     "10440 Little Patuxent Pkwy, Suite 300, Columbia, MD 21044", "(410) 555-0118",
     "Mon-Fri 8am-5pm"),
    ("annapolis-md", "Annapolis, MD", "21401", 38.9898, -76.5501,
     "2008 West St, Suite 105, Annapolis, MD 21401", "(410) 555-0193",
     "Mon-Thu 8am-5pm, Fri 8am-2pm"),
    ("arlington-va", "Arlington, VA", "22201", 38.8871, -77.0932,
     "3100 Clarendon Blvd, Suite 200, Arlington, VA 22201", "(703) 555-0127",
     "Mon-Fri 8am-6pm, Sat 9am-1pm"),
    ("fairfax-va", "Fairfax, VA", "22030", 38.8458, -77.3242,
     "10500 Main St, Suite 120, Fairfax, VA 22030", "(703) 555-0175",
     "Mon-Fri 8am-5pm"),
]

# Raw HTML in articles is off: the Markdown is ours, but escaping it costs nothing.
markdown = MarkdownIt("commonmark", {"html": False, "typographer": True}).enable(["table", "replacements", "smartquotes"])


def seed_locations(session: Session) -> int:
    """Create missing offices (with their default inbox); never overwrite admin edits."""
    added = 0
    for position, (slug, name, zip_code, lat, lon, address, phone, hours) in enumerate(LOCATIONS):
        if session.scalar(select(Location.id).where(Location.slug == slug)) is not None:
            continue
        loc = Location(slug=slug, name=name, zip_code=zip_code, latitude=lat, longitude=lon,
                       address=address, phone=phone, hours=hours, position=position)
        loc.inboxes.append(LocationInbox(email=f"{slug}@example.org"))
        session.add(loc)
        added += 1
    session.flush()
    return added


def load_article_files(folder: Path = ARTICLES_DIR) -> list[dict]:
    """Parse every Markdown file with front matter in ``folder``."""
    articles = []
    for path in sorted(folder.glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        post = frontmatter.loads(raw)
        published = post["date"]
        if not isinstance(published, date):
            published = date.fromisoformat(str(published))
        articles.append({
            "slug": str(post["slug"]), "title": str(post["title"]), "author": str(post.get("author", "")),
            "summary": str(post.get("summary", "")), "published_on": published,
            "body_html": markdown.render(post.content), "checksum": hashlib.sha256(raw.encode()).hexdigest(),
        })
    return articles


def seed_articles(session: Session, folder: Path = ARTICLES_DIR) -> int:
    """Insert new articles and refresh changed ones; returns how many changed."""
    changed = 0
    for data in load_article_files(folder):
        article = session.scalar(select(Article).where(Article.slug == data["slug"]))
        if article is None:
            session.add(Article(**data))
            changed += 1
        elif article.checksum != data["checksum"]:
            for key, value in data.items():
                setattr(article, key, value)
            changed += 1
    session.flush()
    return changed
