/*
 * Energy Arena — the websocket of a battle being written, reconnecting with a backoff
 * (docs/arena-protocol.md, "Websocket").
 *
 * The server sends a snapshot first on every (re)connect, so a reconnect loses nothing.
 */

export const RECONNECT_MAX_MS = 10000;
/** Close code of the server for a battle of another session: no reconnect. */
export const FORBIDDEN = 4403;

export class BattleSocket {
  /**
   * live(): whether the battle is still being written (a socket is wanted);
   * path(): its websocket path ("/ws/battles/12/");
   * generation(): bumped by the page when it switches battle (callbacks of an older one are dropped);
   * onMessage(msg): each message (a parsed object);
   * onForbidden(): the server refused this session (close code 4403);
   * onStuck(): a few reconnects failed in a row: the page should ask over HTTP too.
   */
  constructor({ live, path, generation, onMessage, onForbidden, onStuck }) {
    this.live = live;
    this.path = path;
    this.generation = generation;
    this.onMessage = onMessage;
    this.onForbidden = onForbidden;
    this.onStuck = onStuck;
    this.ws = null;
    this.timer = null;
    this.retry = 0;
  }

  get open() {
    return this.ws !== null;
  }

  close() {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.retry = 0;
    if (this.ws) {
      const sock = this.ws;
      this.ws = null;
      sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
      try {
        sock.close(1000);
      } catch (_) {
        /* already closed */
      }
    }
  }

  /** Connect unless connected or waiting to reconnect. */
  ensure() {
    if (this.ws || this.timer) return;
    this.connect();
  }

  /** Back online: reconnect now instead of waiting for the backoff. */
  reconnectNow() {
    if (!this.live() || this.ws) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.retry = 0;
    this.connect();
  }

  scheduleReconnect() {
    if (this.timer || !this.live()) return;
    const delay = Math.min(1000 * 2 ** this.retry, RECONNECT_MAX_MS);
    this.retry += 1;
    const gen = this.generation();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (gen !== this.generation()) return;
      // After a few failed tries, also ask for the state over HTTP so that the page moves on
      // even when the websocket cannot get through.
      if (this.retry >= 3) this.onStuck();
      this.connect();
    }, delay);
  }

  connect() {
    const path = this.live() ? this.path() : null;
    if (!path || this.ws) return;
    const gen = this.generation();
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (_) {
      this.scheduleReconnect();
      return;
    }
    this.ws = sock;
    sock.onmessage = (event) => {
      if (gen !== this.generation() || this.ws !== sock) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "snapshot") this.retry = 0; // connected: the next drop starts the backoff anew
      this.onMessage(msg);
    };
    sock.onclose = (event) => {
      if (this.ws === sock) this.ws = null;
      if (gen !== this.generation()) return;
      if (event.code === FORBIDDEN) {
        this.onForbidden();
        return;
      }
      this.scheduleReconnect();
    };
    sock.onerror = () => {
      /* a close event follows */
    };
  }
}
