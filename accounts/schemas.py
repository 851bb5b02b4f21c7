from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class TokenRequest(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)

    username: Annotated[str, Field(min_length=1, max_length=150)]
    password: Annotated[str, Field(min_length=1, max_length=4096)]


class Token(BaseModel):
    token: str
