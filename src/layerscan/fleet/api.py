"""The fleet HTTP API (``layerscan server``), a thin Starlette app over fleet.store and fleet.tasks.

    POST /images                        {"ref": "registry/repo:tag"} or {"refs": [...]} -> 202 queued
    GET  /images                        stored images (paginated: ?limit=&offset=)
    GET  /images/{digest}               one image: layers, packages (paginated) and their vulnerabilities;
                                        the HTML layer page with Accept: text/html or ?format=html
    POST /sboms                         an SBOM document as the body (?name=ref) -> 201 stored and matched
    GET  /vulnerabilities/{id}/images   images a vulnerability (or an alias) hits: layer, fixed version
    GET  /packages/{purl}/images        images holding a package (purl URL-encoded; without @version: any)
    GET  /summary                       fleet counts, images affected per severity
    POST /rematch                       re-match the fleet against the current database now
    POST /watches                       {"repository": "registry/repo", "tags": "1.*"} -> 201 (200: existed)
    GET  /watches                       the watched repositories, last poll and last error (fleet.watch)
    GET  /openapi.json                  this API's OpenAPI 3.1 document (fleet/openapi.json)

Every route but /openapi.json needs ``Authorization: Bearer <token>`` (``layerscan server token
create``, fleet.tokens): GET routes the ``read`` scope, POST routes ``write`` (which also reads). No
or an unknown token is a 401, a token without the scope a 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import tempfile
from importlib import resources
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from layerscan.fleet import store as fleet_store
from layerscan.fleet import tokens, ui
from layerscan.fleet.tasks import AlreadyQueued, FleetRuntime, request_delivery, request_rematch, submit
from layerscan.textload import LoadError, parse_json

if TYPE_CHECKING:
    import procrastinate
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
MAX_REFS = 100


def openapi_document() -> dict[str, Any]:
    return json.loads(resources.files("layerscan.fleet").joinpath("openapi.json").read_text(encoding="utf-8"))


class BadRequest(Exception):
    status = 400


class TooLarge(BadRequest):
    status = 413


class Unauthorized(BadRequest):
    status = 401


class Forbidden(BadRequest):
    status = 403


class NotFound(BadRequest):
    status = 404


class Unavailable(BadRequest):
    status = 503


# the layer page is self-contained (inline CSS and script, no network): nothing else may load
HTML_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:;"
               " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not scheme and request.method == "GET":  # the web UI's HttpOnly SameSite=Strict cookie (fleet.ui)
        scheme, token = "bearer", request.cookies.get(ui.COOKIE, "")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("give an API token: Authorization: Bearer <token> (layerscan server token create)")
    return token.strip()


def _int_param(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= top:
        raise BadRequest(f"{name} must be an integer between 0 and {top}")
    return int(raw)


def _page_json(page: fleet_store.Page) -> dict[str, Any]:
    return {"total": page.total, "limit": page.limit, "offset": page.offset,
            "items": [dataclasses.asdict(item) for item in page.items]}


async def _json_object(request: Request, example: str) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():  # bounded: never more than MAX_BODY in memory
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLarge(f"request body is larger than {MAX_BODY} bytes")
    try:
        data = parse_json(bytes(body) or b"null")
    except LoadError:
        raise BadRequest(f"the body must be JSON: {example}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object: {example}")
    return data


async def _refs(request: Request) -> list[str]:
    from layerscan.errors import ImageError
    from layerscan.source.registry.reference import parse_reference

    data = await _json_object(request, '{"ref": "registry/repo:tag"}')
    refs = [data["ref"]] if "ref" in data else data.get("refs")
    if not isinstance(refs, list) or not refs or len(refs) > MAX_REFS or not all(isinstance(r, str) for r in refs):
        raise BadRequest(f"give \"ref\" (a string) or \"refs\" (1 to {MAX_REFS} strings)")
    for ref in refs:
        try:
            parse_reference(ref)
        except ImageError as exc:
            raise BadRequest(str(exc)) from None
    return refs


async def _watch_request(request: Request) -> tuple[str, str, bool, int]:
    from layerscan.fleet.watch import DEFAULT_INTERVAL

    data = await _json_object(request, '{"repository": "registry/repo", "tags": "1.*"}')
    repository, tags = data.get("repository"), data.get("tags", "*")
    insecure, interval = data.get("insecure", False), data.get("interval", DEFAULT_INTERVAL)
    if not isinstance(repository, str) or not isinstance(tags, str):
        raise BadRequest('give "repository" (a string) and optionally "tags" (a glob, default "*")')
    if not isinstance(insecure, bool) or not isinstance(interval, int) or isinstance(interval, bool):
        raise BadRequest('"insecure" is a boolean and "interval" an integer (seconds)')
    return repository, tags, insecure, interval


async def _spool_body(request: Request, limit: int, spool: Any) -> int:
    """The request body into the file ``spool`` (never more than ``limit`` bytes, TooLarge past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        spool.write(chunk)
    return size


def _wants_html(request: Request) -> bool:
    fmt = request.query_params.get("format", "")
    if fmt not in ("", "json", "html"):
        raise BadRequest("format must be json or html")
    return fmt == "html" or (not fmt and "text/html" in request.headers.get("accept", ""))


def make_api(runtime: FleetRuntime, app: procrastinate.App, *, embedded_worker: bool = False,
             concurrency: int = 1) -> Starlette:
    import psycopg
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    async def query(fn: Callable[..., Any], *args: Any) -> Any:
        def run() -> Any:
            with psycopg.connect(runtime.database_url) as conn:
                return fn(conn, *args)
        return await run_in_threadpool(run)

    async def authorize(request: Request, scope: str) -> None:
        have = await query(tokens.token_scope, bearer_token(request))
        if not have:
            raise Unauthorized("the API token is not valid")
        if not tokens.allows(have, scope):
            raise Forbidden(f"this token has the {have} scope; this route needs {scope}")

    def handler(fn: Callable[[Request], Any], scope: str) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            try:
                await authorize(request, scope)
                return await fn(request)
            except BadRequest as exc:
                headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
                return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
        return wrapped

    async def post_images(request: Request) -> Response:
        results = []
        for ref in await _refs(request):
            digest = await query(fleet_store.image_digest, ref.rsplit("@", 1)[1]) if "@" in ref else ""
            if digest:
                results.append({"ref": ref, "status": "stored", "digest": digest})
                continue
            try:
                results.append({"ref": ref, "status": "queued", "job_id": await submit(app, ref)})
            except AlreadyQueued:
                results.append({"ref": ref, "status": "already-queued"})
        return JSONResponse({"results": results}, status_code=202)

    async def get_images(request: Request) -> Response:
        page = await query(fleet_store.list_images, _int_param(request, "limit", 100, fleet_store.MAX_PAGE),
                           _int_param(request, "offset", 0, 10 ** 9))
        return JSONResponse(_page_json(page))

    async def vulnerability_images(request: Request) -> Response:
        page = await query(fleet_store.images_for_vulnerability, request.path_params["vuln_id"],
                           _int_param(request, "limit", 100, fleet_store.MAX_PAGE),
                           _int_param(request, "offset", 0, 10 ** 9))
        return JSONResponse({"vulnerability": request.path_params["vuln_id"], **_page_json(page)})

    async def package_images(request: Request) -> Response:
        purl = request.path_params["purl"]
        if not purl.startswith("pkg:"):
            raise BadRequest("give a package URL (pkg:type/namespace/name@version), URL-encoded")
        page = await query(fleet_store.images_for_package, purl,
                           _int_param(request, "limit", 100, fleet_store.MAX_PAGE),
                           _int_param(request, "offset", 0, 10 ** 9))
        return JSONResponse({"purl": purl, **_page_json(page)})

    async def image_detail(request: Request) -> Response:
        from layerscan.fleet import detail

        html = _wants_html(request)
        limit = _int_param(request, "limit", 100, fleet_store.MAX_PAGE)
        offset = _int_param(request, "offset", 0, 10 ** 9)
        wanted = request.path_params["digest"]

        def load(conn: psycopg.Connection) -> Any:
            image = detail.stored_image(conn, wanted)
            if image is None:
                raise NotFound(f"no stored image {wanted[:200]!r} (GET /images lists them)")
            if not html:
                return detail.image_detail(conn, image, limit, offset)
            from layerscan.report.html import render

            return render(detail.image_report(conn, image))
        found = await query(load)
        if html:
            return HTMLResponse(found, headers={"Content-Security-Policy": HTML_POLICY})
        return JSONResponse(found)

    async def post_sbom(request: Request) -> Response:
        from layerscan.errors import LayerscanError
        from layerscan.fleet import sboms
        from layerscan.fleet.tasks import open_vulndb

        name = request.query_params.get("name", "")
        try:
            sboms.check_name(name)
        except sboms.SbomRejected as exc:
            raise BadRequest(str(exc)) from None
        with tempfile.TemporaryFile(prefix="layerscan-sbom-") as spool:  # the body is never held by the loop
            if not await _spool_body(request, sboms.MAX_UPLOAD, spool):
                raise BadRequest("the body must be an SBOM document (CycloneDX, SPDX or Syft JSON, or a"
                                 " layerscan JSON report)")

            def store(conn: psycopg.Connection) -> Any:
                try:
                    vulndb = open_vulndb(runtime)
                except LayerscanError as exc:
                    raise Unavailable(f"the server has no vulnerability database: {exc}") from None
                spool.seek(0)
                with vulndb:
                    try:
                        return sboms.store_document(conn, spool.read(), vulndb, name, "the uploaded document")
                    except sboms.TooLarge as exc:
                        raise TooLarge(str(exc)) from None
                    except sboms.SbomRejected as exc:
                        raise BadRequest(str(exc)) from None
            result = await query(store)
        if result.events:
            await request_delivery(app)
        return JSONResponse({"status": "stored", **dataclasses.asdict(result)}, status_code=201)

    async def summary(request: Request) -> Response:
        return JSONResponse(await query(fleet_store.summary))

    async def post_rematch(request: Request) -> Response:
        job = await request_rematch(app)
        return JSONResponse({"status": "queued" if job else "already-queued", "job_id": job}, status_code=202)

    async def post_watch(request: Request) -> Response:
        from layerscan.fleet import watch

        repository, tags, insecure, interval = await _watch_request(request)

        def add(conn: psycopg.Connection) -> tuple[watch.Watch, bool]:
            try:
                return watch.add_watch(conn, repository, tags, insecure, interval)
            except watch.WatchError as exc:
                raise BadRequest(str(exc)) from None
        found, added = await query(add)
        return JSONResponse({"status": "added" if added else "exists", "watch": dataclasses.asdict(found)},
                            status_code=201 if added else 200)

    async def get_watches(request: Request) -> Response:
        from layerscan.fleet.watch import list_watches

        found = await query(list_watches)
        return JSONResponse({"total": len(found), "items": [dataclasses.asdict(w) for w in found]})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def ui_page(request: Request) -> Response:
        return HTMLResponse(ui.page(), headers={"Content-Security-Policy": ui.UI_POLICY,
                                                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    async def ui_login(request: Request) -> Response:
        from starlette.responses import RedirectResponse

        token = ui.form_token(await request.body())
        if not token or not await query(tokens.token_scope, token):
            return JSONResponse({"error": "the API token is not valid"}, status_code=401)
        resp = RedirectResponse("/ui", status_code=303)
        resp.set_cookie(ui.COOKIE, token, httponly=True, samesite="strict", path="/")
        return resp

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with app.open_async():
            worker = asyncio.create_task(app.run_worker_async(concurrency=concurrency, install_signal_handlers=False)) \
                if embedded_worker else None
            try:
                yield
            finally:
                if worker:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker

    routes = [
        Route("/images", handler(post_images, "write"), methods=["POST"]),
        Route("/images", handler(get_images, "read"), methods=["GET"]),
        Route("/images/{digest:path}", handler(image_detail, "read"), methods=["GET"]),
        Route("/sboms", handler(post_sbom, "write"), methods=["POST"]),
        Route("/vulnerabilities/{vuln_id}/images", handler(vulnerability_images, "read"), methods=["GET"]),
        Route("/packages/{purl:path}/images", handler(package_images, "read"), methods=["GET"]),
        Route("/summary", handler(summary, "read"), methods=["GET"]),
        Route("/rematch", handler(post_rematch, "write"), methods=["POST"]),
        Route("/watches", handler(post_watch, "write"), methods=["POST"]),
        Route("/watches", handler(get_watches, "read"), methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/ui", ui_page, methods=["GET"]),
        Route("/ui/login", ui_login, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
