"""Asking a served model through the OpenAI API (the ``openai`` package, installed with ms-swift, imported lazily)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Optional

from swiftkit.errors import SwiftkitError

TIMEOUT = 300.0
Progress = Callable[[int, int], None]  # (answers so far, prompts in all)


def normalize_url(url: str) -> str:
    """``http://host:port``, ``…/`` or ``…/v1`` -> the OpenAI base URL ``http://host:port/v1``."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SwiftkitError(f"{url!r} is not an http(s) URL; give e.g. http://127.0.0.1:8000/v1.")
    return url if url.endswith("/v1") else url + "/v1"


@dataclass(frozen=True)
class Generation:
    """Sampling settings sent with every request (as the profile's infer section sets them)."""

    temperature: float
    max_tokens: int
    repetition_penalty: Optional[float] = None


class EndpointClient:
    def __init__(self, url: str, api_key: Optional[str], timeout: float = TIMEOUT) -> None:
        try:
            import openai
        except ImportError:
            raise SwiftkitError("the 'openai' package is missing; run 'pip install openai'.") from None
        self._openai = openai
        self.url = normalize_url(url)
        self.client = openai.OpenAI(base_url=self.url, api_key=api_key or "none", timeout=timeout, max_retries=0)

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        openai = self._openai
        try:
            return func(*args, **kwargs)
        except openai.AuthenticationError:
            raise SwiftkitError(
                f"{self.url} refused the API key (401); set SWIFTKIT_API_KEY, or give --api-key-file FILE or "
                "--ask-api-key."
            ) from None
        except openai.APIConnectionError:
            raise SwiftkitError(f"cannot reach {self.url}; is 'swiftkit deploy' running there?") from None
        except openai.APIStatusError as exc:
            raise SwiftkitError(f"{self.url} answered {exc.status_code} to {what}: {_message(exc)}") from None

    def models(self) -> list[str]:
        page = self._call("GET /models", self.client.models.list)
        return [m.id for m in page.data]

    def pick_model(self, wanted: Optional[str]) -> str:
        """``wanted`` when it is served; else the first served model; an error names the served ones."""
        served = self.models()
        if wanted is None:
            if not served:
                raise SwiftkitError(f"{self.url} serves no models.")
            return served[0]
        if wanted not in served:
            raise SwiftkitError(f"{self.url} does not serve {wanted!r}; it serves {served}. Pass --model NAME.")
        return wanted

    def answer(self, model: str, prompt: str, gen: Generation, system: Optional[str] = None) -> str:
        messages = ([{"role": "system", "content": system}] if system is not None else []) + [
            {"role": "user", "content": prompt}
        ]
        extra = {"repetition_penalty": gen.repetition_penalty} if gen.repetition_penalty is not None else None
        reply = self._call(
            "a chat completion",
            self.client.chat.completions.create,
            model=model,
            messages=messages,
            temperature=gen.temperature,
            max_tokens=gen.max_tokens,
            extra_body=extra,
        )
        return str(reply.choices[0].message.content or "")

    def answers(
        self,
        model: str,
        prompts: list[str],
        gen: Generation,
        concurrency: int = 1,
        on_progress: Optional[Progress] = None,
    ) -> list[str]:
        """Answers in the order of ``prompts``, at most ``concurrency`` requests in flight at a time (a server that
        batches, as `swift deploy` does up to its --max_batch_size, answers them together); ``on_progress(done,
        total)`` hears each answer as it arrives. The first failure stops the rest and is raised."""
        out: list[Optional[str]] = [None] * len(prompts)
        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            futures = {pool.submit(self.answer, model, p, gen): i for i, p in enumerate(prompts)}
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    out[futures[future]] = future.result()
                    if on_progress is not None:
                        on_progress(done, len(prompts))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return [str(a) for a in out]


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        inner: dict[str, Any] = error if isinstance(error, dict) else body
        return str(inner.get("message", body))
    return str(exc)
