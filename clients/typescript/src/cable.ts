/**
 * A minimal ActionCable (`actioncable-v1-json`) client for one subscription, enough to follow a job
 * over `GET /cable` where there is a WebSocket but no EventSource (React Native). Reconnection and
 * fallback are the watch's business: a connection reports how it ended and is then done.
 */

import type { WebSocketConstructor, WebSocketLike } from './types.js';

/** What `@rails/actioncable` offers; the server selects the first. */
export const CABLE_PROTOCOLS = ['actioncable-v1-json', 'actioncable-unsupported'];

const OPEN = 1;

export interface CableHandlers {
  /** `reject_subscription` for this identifier (`reason`: `not_found`, `too_many_streams`, …). */
  onReject(reason: string | undefined): void;
  /** A data frame for this identifier: its `message`. */
  onMessage(message: unknown): void;
  /** The connection is over: a `disconnect` frame (with its reason and `reconnect`), a close, an error, or silence. */
  onEnd(why: { reason?: string; reconnect: boolean; welcomed: boolean; error?: unknown }): void;
}

export interface CableConnection {
  /** Unsubscribes and closes; no handler runs afterwards. */
  close(): void;
}

/** The `/cable` URL of a server: `http(s)` → `ws(s)`, with `?token=<stream token>`. */
export function cableUrl(baseUrl: string, streamToken: string, override?: string): string {
  const base = override ?? baseUrl.replace(/^http(s?):\/\//i, 'ws$1://') + '/cable';
  return `${base}${base.includes('?') ? '&' : '?'}token=${encodeURIComponent(streamToken)}`;
}

/**
 * Opens one connection and subscribes to `identifier` on `welcome`. Silence longer than `staleMs`
 * (the server pings every 3 s), or no confirmation within it, ends the connection.
 */
export function connectCable(
  WS: WebSocketConstructor,
  url: string,
  identifier: string,
  handlers: CableHandlers,
  staleMs = 8000,
): CableConnection {
  let ended = false;
  let welcomed = false;
  let confirmed = false;
  let stale: ReturnType<typeof setTimeout> | undefined;
  let ws: WebSocketLike;

  const shut = () => {
    if (stale !== undefined) clearTimeout(stale);
    stale = undefined;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close();
    } catch {
      /* ignore */
    }
  };
  const end = (why: { reason?: string; reconnect: boolean; error?: unknown }) => {
    if (ended) return;
    ended = true;
    shut();
    handlers.onEnd({ ...why, welcomed });
  };
  const heard = () => {
    if (stale !== undefined) clearTimeout(stale);
    stale = setTimeout(
      () => end({ reconnect: true, error: new Error(confirmed ? `/cable silent for ${staleMs} ms` : 'subscription not confirmed') }),
      staleMs,
    );
  };
  const send = (frame: object) => {
    if (ws.readyState === OPEN) ws.send(JSON.stringify(frame));
  };

  try {
    ws = new WS(url, CABLE_PROTOCOLS);
  } catch (error) {
    ended = true;
    queueMicrotask(() => handlers.onEnd({ reconnect: false, welcomed: false, error }));
    return { close() {} };
  }
  heard();
  ws.onmessage = (ev: { data?: unknown }) => {
    if (ended) return;
    heard();
    let msg: { type?: string; identifier?: string; message?: unknown; reason?: string; reconnect?: boolean };
    try {
      msg = JSON.parse(String(ev.data));
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'welcome':
        welcomed = true;
        send({ command: 'subscribe', identifier });
        return;
      case 'ping':
        return;
      case 'disconnect':
        return end({ reason: msg.reason, reconnect: msg.reconnect === true });
      case 'confirm_subscription':
        if (msg.identifier === identifier) confirmed = true;
        return;
      case 'reject_subscription':
        if (msg.identifier !== identifier) return;
        ended = true;
        shut();
        return handlers.onReject(msg.reason);
    }
    if (msg.type === undefined && msg.identifier === identifier && 'message' in msg) {
      confirmed = true; // a snapshot implies the subscription
      handlers.onMessage(msg.message);
    }
  };
  ws.onerror = (error: unknown) => end({ reconnect: true, error });
  ws.onclose = (ev: { code?: number; reason?: string }) =>
    end({ reconnect: true, error: new Error(`/cable closed (${ev?.code ?? '?'}${ev?.reason ? ' ' + ev.reason : ''})`) });

  return {
    close() {
      if (ended) return;
      ended = true;
      try {
        send({ command: 'unsubscribe', identifier });
      } catch {
        /* ignore */
      }
      shut();
    },
  };
}
