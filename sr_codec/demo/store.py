"""The message store: one SQLAlchemy table, SQLite by default, any database SQLAlchemy speaks otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import DateTime, Integer, LargeBinary, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///sr_codec_demo.sqlite3"
DATABASE_URL_ENV = "SR_CODEC_DEMO_DATABASE_URL"
MAX_ROOM_CHARS = 64
MAX_SENDER_CHARS = 64


class Base(DeclarativeBase):
    pass


class Message(Base):
    """One photo message: the payload and what the sender's original cost, nothing else of the image."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room: Mapped[str] = mapped_column(String(MAX_ROOM_CHARS), index=True)
    sender: Mapped[str] = mapped_column(String(MAX_SENDER_CHARS))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    original_bytes: Mapped[int] = mapped_column(Integer)
    #: Bytes of a whole-image AVIF / JPEG whose decoded RGB PSNR (vs the upload) is at least the payload's.
    avif_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    jpeg_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    psnr_db: Mapped[float | None] = mapped_column(nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class NewMessage:
    room: str
    sender: str
    payload: bytes
    original_bytes: int
    avif_bytes: int | None
    jpeg_bytes: int | None
    psnr_db: float | None


class Store:
    """Thread-safe access to the messages table (one short session per call)."""

    def __init__(self, database_url: str = DEFAULT_DATABASE_URL) -> None:
        self.database_url = database_url
        options = {}
        if database_url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(database_url, **options)
        if database_url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_wal)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def add(self, new: NewMessage) -> Message:
        with self._sessions() as session, session.begin():
            message = Message(room=new.room, sender=new.sender, payload=new.payload, original_bytes=new.original_bytes,
                              avif_bytes=new.avif_bytes, jpeg_bytes=new.jpeg_bytes, psnr_db=new.psnr_db)
            session.add(message)
        return message

    def list(self, room: str, after: int = 0, limit: int = 100) -> list[Message]:
        with self._sessions() as session:
            query = select(Message).where(Message.room == room, Message.id > after).order_by(Message.id).limit(limit)
            return list(session.scalars(query))

    def get(self, message_id: int) -> Message | None:
        with self._sessions() as session:
            return session.get(Message, message_id)

    def count(self) -> int:
        with self._sessions() as session:
            return len(session.scalars(select(Message.id)).all())

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_wal(dbapi_connection, _record) -> None:
    """WAL: readers do not block the writer while several senders upload at once."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
