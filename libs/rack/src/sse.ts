/**
 * Server-sent events (the HTML standard's `text/event-stream`), as the rack's stream writes them:
 * one frame per message, `event:` naming its type, `data:` its JSON.
 */

export interface SseFrame {
  /** The event type the page listens for (`addEventListener(event, …)`); letters, digits, `-`, `_`. */
  event?: string;
  /** Any JSON value; written on `data:` lines. */
  data: unknown;
  /** The browser's reconnection delay, in milliseconds. */
  retry?: number;
}

const EVENT_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * One frame. JSON has no raw line breaks, but a frame must never end early whatever the value,
 * so the text is still cut at any CR or LF into several `data:` lines (the browser joins them
 * with LF, and JSON reads LF as white space between tokens: the same value).
 */
export function sseFrame(f: SseFrame): string {
  const lines: string[] = [];
  if (f.event !== undefined) {
    if (!EVENT_NAME.test(f.event)) throw new RangeError(`not an SSE event name: ${JSON.stringify(f.event)}`);
    lines.push(`event: ${f.event}`);
  }
  if (f.retry !== undefined) lines.push(`retry: ${Math.max(0, Math.floor(f.retry))}`);
  const text = JSON.stringify(f.data) ?? 'null';
  for (const part of text.split(/\r\n|\r|\n/)) lines.push(`data: ${part}`);
  return `${lines.join('\n')}\n\n`;
}

/** A comment line: keeps an idle connection (and proxies on the way) from timing out. */
export const SSE_KEEPALIVE = ': keep-alive\n\n';

/** One parsed frame of a stream (for clients and tests): its event type and its data text. */
export interface ParsedSseFrame {
  event: string;
  data: string;
}

/**
 * Splits stream text into complete frames; returns them and the unfinished rest. Comments and
 * unknown fields are skipped; a frame without `event:` is of type `message`, as in a browser.
 */
export function parseSse(text: string): { frames: ParsedSseFrame[]; rest: string } {
  const frames: ParsedSseFrame[] = [];
  const blocks = text.replace(/\r\n|\r/g, '\n').split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) frames.push({ event, data: data.join('\n') });
  }
  return { frames, rest };
}
