// Pipelines: a Kanban board of open deals by stage; dragging a card to another column moves the
// deal through the API (keyboard: focus a card, Space to pick up, arrows, Space to drop).
import { DndContext, KeyboardSensor, PointerSensor, useDraggable, useDroppable, useSensor, useSensors, type DragEndEvent } from "@dnd-kit/core";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { useTranslation } from "react-i18next";
import { canWrite, get, type Page, post, problemText, type Session } from "../api";
import { useDragAnnouncements } from "../dnd";
import { useLiveEvents } from "../live";
import type { Deal, Pipeline, Stage } from "../types";
import { DealValue, total } from "./pipelines/DealValue";

export function Pipelines({ session }: { session: Session }) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const [chosen, setSelected] = useState<string | null>(null);
  const [failed, setError] = useState<string | null>(null);
  const pipelineQuery = useQuery({ queryKey: ["pipelines"], queryFn: () => get<Page<Pipeline>>("/pipelines") });
  const pipelines = pipelineQuery.data?.items ?? null;
  const selected = chosen ?? pipelines?.[0]?.id ?? null;
  const dealKey = ["deals", "open", selected];
  const dealQuery = useQuery({
    queryKey: dealKey,
    queryFn: () => get<Page<Deal>>(`/deals?pipeline_id=${selected}&status=open&limit=200`),
    enabled: selected !== null,
  });
  const deals = dealQuery.data?.items ?? [];
  const error = failed ?? (pipelineQuery.error ? problemText(pipelineQuery.error) : dealQuery.error ? problemText(dealQuery.error) : null);
  const writable = canWrite(session.role);
  const sensors = useSensors(useSensor(PointerSensor, { activationConstraint: { distance: 5 } }), useSensor(KeyboardSensor));
  const accessibility = useDragAnnouncements(
    (id) => deals.find((d) => d.id === id)?.title ?? pipelines?.flatMap((p) => p.stages).find((s) => s.id === id)?.name ?? String(id),
  );

  const load = useCallback(() => queries.invalidateQueries({ queryKey: ["deals"] }), [queries]);
  useLiveEvents((e) => {
    if (e.type.startsWith("deal.")) void load();
  });

  const onDragEnd = async (event: DragEndEvent) => {
    const dealId = String(event.active.id);
    const stageId = event.over ? String(event.over.id) : null;
    const deal = deals.find((d) => d.id === dealId);
    if (!deal || !stageId || deal.stage_id === stageId) return;
    // The card moves at once; the server's answer (or the refetch after a refusal) settles it.
    queries.setQueryData<Page<Deal>>(dealKey, (page) => page && { ...page, items: page.items.map((d) => (d.id === dealId ? { ...d, stage_id: stageId } : d)) });
    try {
      await post(`/deals/${dealId}/move`, { stage_id: stageId });
      setError(null);
    } catch (e) {
      setError(problemText(e));
    }
    await load();
  };

  if (error && !pipelines) return <p role="alert" className="error page">{error}</p>;
  if (!pipelines) return <p className="muted page">{t("common.loading")}</p>;
  if (pipelines.length === 0) return <p className="muted page">{t("pipelines.none")}</p>;
  const pipeline = pipelines.find((p) => p.id === selected) ?? pipelines[0];
  return (
    <section className="page pipelines" aria-label={t("pipelines.title")}>
      <header className="page-header">
        <h1>{t("pipelines.title")}</h1>
        <select aria-label={t("pipelines.pipeline")} value={pipeline.id} onChange={(e) => setSelected(e.target.value)}>
          {pipelines.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
        </select>
      </header>
      {error && <p role="alert" className="error">{error}</p>}
      <DndContext sensors={sensors} onDragEnd={(e) => void onDragEnd(e)} accessibility={accessibility}>
        <div className="board">
          {pipeline.stages.map((stage) => (
            <Column key={stage.id} stage={stage} deals={deals.filter((d) => d.stage_id === stage.id)} draggable={writable} onChanged={load} />
          ))}
        </div>
      </DndContext>
    </section>
  );
}

function Column({ stage, deals, draggable, onChanged }: { stage: Stage; deals: Deal[]; draggable: boolean; onChanged: () => Promise<void> }) {
  const { t } = useTranslation();
  const { setNodeRef, isOver } = useDroppable({ id: stage.id });
  const worth = total(deals);
  return (
    <div ref={setNodeRef} className={`column ${isOver ? "over" : ""}`} data-testid={`stage-${stage.key}`} aria-label={t("pipelines.stage", { name: stage.name })}>
      <h2>{stage.name} <span className="muted">{deals.length}</span></h2>
      {worth && <p className="muted" data-testid="stage-total">{worth}</p>}
      {deals.map((d) => (
        <div key={d.id} className="card-wrap">
          <Card deal={d} draggable={draggable} />
          <DealValue deal={d} writable={draggable} onSaved={onChanged} />
        </div>
      ))}
    </div>
  );
}

function Card({ deal, draggable }: { deal: Deal; draggable: boolean }) {
  const { attributes, listeners, setNodeRef, transform } = useDraggable({ id: deal.id, disabled: !draggable });
  const style = transform ? { transform: `translate(${transform.x}px, ${transform.y}px)` } : undefined;
  return (
    <article ref={setNodeRef} style={style} className="card" data-testid="deal-card" {...listeners} {...attributes}>
      <strong>{deal.title}</strong>
      <span className="muted">{deal.contact_name ?? ""}</span>
    </article>
  );
}
