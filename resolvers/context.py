"""The typed context every resolver receives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from config import Settings
from resolvers.db import SessionFactory
from resolvers.loaders import Loaders
from resolvers.pagination import PageArgs, PageRequest


@dataclass
class Context:
    session_factory: SessionFactory
    settings: Settings
    loaders: Loaders
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def create(cls, session_factory: SessionFactory, settings: Settings) -> Context:
        return cls(session_factory, settings, Loaders(session_factory))

    def page_request(self, args: PageArgs) -> PageRequest:
        return PageRequest.from_args(
            args, self.settings.default_page_size, self.settings.max_page_size
        )
