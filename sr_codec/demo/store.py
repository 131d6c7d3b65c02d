"""The message store: one SQLAlchemy table, SQLite by default, any database SQLAlchemy speaks otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import DateTime, Integer, LargeBinary, String, UniqueConstraint, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///sr_codec_demo.sqlite3"
DATABASE_URL_ENV = "SR_CODEC_DEMO_DATABASE_URL"
MAX_ROOM_CHARS = 64
MAX_SENDER_CHARS = 64
MAX_CLIENT_ID_CHARS = 64


class Base(DeclarativeBase):
    pass


class Message(Base):
    """One photo message: the payload and what the sender's original cost, nothing else of the image.

    ``client_id`` is the sender's id for the message (one per photo, kept across retries): a room stores each
    at most once, so a retried upload is not a second message.
    """

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("room", "client_id", name="one_message_per_client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room: Mapped[str] = mapped_column(String(MAX_ROOM_CHARS), index=True)
    sender: Mapped[str] = mapped_column(String(MAX_SENDER_CHARS))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    client_id: Mapped[str] = mapped_column(String(MAX_CLIENT_ID_CHARS))
    #: The size of the photo file the sender picked (declared by the sender's browser; the server never sees it).
    original_bytes: Mapped[int] = mapped_column(Integer)
    #: Measured by the sender's browser after sending: the payload's decoded RGB PSNR against the photo, and the
    #: smallest whole-image AVIF (at libavif speed ``avif_speed``, the payload's own) reaching that PSNR.
    psnr_db: Mapped[float | None] = mapped_column(nullable=True)
    avif_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    avif_speed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class NewMessage:
    room: str
    sender: str
    payload: bytes
    original_bytes: int
    client_id: str


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

    def add(self, new: NewMessage) -> tuple[Message, bool]:
        """(the message, True) once; a second upload with the same room and client_id returns (the stored one, False)."""
        try:
            with self._sessions() as session, session.begin():
                message = Message(room=new.room, sender=new.sender, payload=new.payload,
                                  original_bytes=new.original_bytes, client_id=new.client_id)
                session.add(message)
            return message, True
        except IntegrityError:
            with self._sessions() as session:
                query = select(Message).where(Message.room == new.room, Message.client_id == new.client_id)
                existing = session.scalars(query).first()
            if existing is None:
                raise
            return existing, False

    def set_comparison(self, message_id: int, psnr_db: float | None, avif_bytes: int | None,
                       avif_speed: int | None) -> Message | None:
        """Record the sender's comparison once (later calls change nothing); the message, or None if there is none."""
        with self._sessions() as session, session.begin():
            session.execute(update(Message).where(Message.id == message_id, Message.psnr_db.is_(None))
                            .values(psnr_db=psnr_db, avif_bytes=avif_bytes, avif_speed=avif_speed))
        return self.get(message_id)

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
