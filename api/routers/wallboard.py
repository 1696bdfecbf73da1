"""The wallboard page: plain HTML, CSS and JS served as files, no build step."""

from fastapi import APIRouter

router = APIRouter(tags=["wallboard"])
