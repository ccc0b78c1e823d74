// Live events: the API's WebSocket stream of outbox events, resumed from the last event seen after
// any disconnect (the API replays what was missed, then continues live).
import { useEffect, useRef } from "react";
import { currentSession } from "./api";

export interface LiveEvent {
  id: number;
  type: string;
  aggregate_type: string;
  aggregate_id: string;
  data: Record<string, unknown>;
  created_at: string;
}

export function streamUrl(origin: string, token: string, lastEventId: number | null): string {
  const ws = origin.replace(/^http/, "ws");
  const resume = lastEventId === null ? "" : `&last_event_id=${lastEventId}`;
  return `${ws}/api/v1/stream?access_token=${encodeURIComponent(token)}${resume}`;
}

/** Calls `onEvent` for every event of the tenant while the component is mounted. */
export function useLiveEvents(onEvent: (e: LiveEvent) => void): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    let socket: WebSocket | null = null;
    let lastId: number | null = null;
    let stopped = false;
    let retry = 500;
    const connect = () => {
      const s = currentSession();
      if (stopped || !s) return;
      socket = new WebSocket(streamUrl(window.location.origin, s.accessToken, lastId));
      socket.onmessage = (msg) => {
        const event = JSON.parse(msg.data as string) as LiveEvent & { last_event_id?: number };
        if (event.type === "stream.ready") {
          lastId ??= event.last_event_id ?? null;
          retry = 500;
          return;
        }
        lastId = event.id;
        handler.current(event);
      };
      socket.onclose = () => {
        if (stopped) return;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10_000);
      };
    };
    connect();
    return () => {
      stopped = true;
      socket?.close();
    };
  }, []);
}
