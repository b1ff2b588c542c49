"""The relay between the event streams and `micro listen` (docs/architecture.md, "Three paths").

1. `POST /cli/sessions` (an API key or an admin's session) returns a short-lived
   `websocket_token`, the WebSocket URL and the tenant's `whsec_` secret for that mode.
2. WebSocket `/cli/listen` (`Authorization: Bearer <websocket_token>` or `?token=`), with
   `events=a,b` (types, `family.*`, `*`) and `after=<stream id>` to resume. The gateway sends
   `ready` with the cursor it starts after, then every event of the tenant's stream after it,
   in order, each with its exact payload and Standard Webhooks headers signed with the
   session secret, and `ping`s; the listener acks events (`{"type": "ack", "stream_id"}`)
   and answers pings. Reconnecting with `after=<last acked>` replays the gap from the stream.
   With `batch=1` a backlog comes as `events` messages of several events each.

Close codes: 4401 bad or expired token, 4403 the credential was revoked, its session ended,
its tenant disabled or (live) the tenant's live mode switched off (the reason starts with
the code, e.g. `api_key_revoked: ...`; do not reconnect), 4400 bad options or message, 4008
listener too slow (resume from the last acknowledged event), 4002 no pong, 1011 Redis or
auth unavailable.
"""
