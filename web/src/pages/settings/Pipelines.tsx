// Pipelines and stages (admins): create a pipeline, rename it, make it the default (where agents
// create leads), delete an empty one; add, rename and delete stages, and reorder them by dragging
// (or from the keyboard: Space to pick a stage up, arrows, Space to drop). Stages keyed `won` and
// `lost` close the deals that reach them.
import { closestCenter, DndContext, type DragEndEvent, KeyboardSensor, PointerSensor, useSensor, useSensors } from "@dnd-kit/core";
import { SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, get, post, problemText } from "../../api";
import { useDragAnnouncements } from "../../dnd";
import type { Pipeline, Stage } from "../../types";
import { keyFor } from "./stageKey";

export function PipelineSettings() {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const pipelines = useQuery({ queryKey: ["pipelines"], queryFn: () => get<{ items: Pipeline[] }>("/pipelines") });
  const [selected, setSelected] = useState<string | null>(null);
  const [name, setName] = useState("");
  const done = () => queries.invalidateQueries({ queryKey: ["pipelines"] });
  const create = useMutation({
    mutationFn: () => post<Pipeline>("/pipelines", { name }),
    onSuccess: async (p) => { setName(""); setSelected(p.id); await done(); },
  });
  const items = pipelines.data?.items ?? [];
  const pipeline = items.find((p) => p.id === selected) ?? items[0];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <div className="settings-body">
      <p className="muted">{t("pipelineSettings.intro")}</p>
      {(create.error ?? pipelines.error) && <p role="alert" className="error">{problemText(create.error ?? pipelines.error)}</p>}
      {items.length > 0 && (
        <label className="inline-label">{t("pipelines.pipeline")}
          <select value={pipeline?.id} onChange={(e) => setSelected(e.target.value)}>
            {items.map((p) => <option key={p.id} value={p.id}>{p.name}{p.is_default ? ` (${t("pipelineSettings.default")})` : ""}</option>)}
          </select>
        </label>
      )}
      {pipeline && <PipelineEditor key={pipeline.id} pipeline={pipeline} onChanged={done} onDeleted={async () => { setSelected(null); await done(); }} />}
      <form className="stack" onSubmit={submit} aria-label={t("pipelineSettings.new")}>
        <h2>{t("pipelineSettings.new")}</h2>
        <label>{t("common.name")}<input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} /></label>
        <p className="muted">{t("pipelineSettings.defaultStages")}</p>
        <div><button type="submit" disabled={create.isPending}>{t("pipelineSettings.create")}</button></div>
      </form>
    </div>
  );
}

function PipelineEditor({ pipeline, onChanged, onDeleted }: { pipeline: Pipeline; onChanged: () => Promise<void>; onDeleted: () => Promise<void> }) {
  const { t } = useTranslation();
  const [name, setName] = useState(pipeline.name);
  const [stage, setStage] = useState({ key: "", name: "", closes: "open" as Closes, typedKey: false });
  const [order, setOrder] = useState<Stage[] | null>(null);
  const stages = order ?? pipeline.stages;
  const base = `/pipelines/${pipeline.id}`;
  const change = useMutation({ mutationFn: (body: { name?: string; is_default?: boolean }) => api("PATCH", base, body), onSuccess: onChanged });
  const remove = useMutation({ mutationFn: () => api("DELETE", base), onSuccess: onDeleted });
  // A stage that closes deals is the one keyed `won` or `lost`; any other key keeps them open.
  const stageKey = stage.closes === "open" ? (stage.typedKey ? stage.key : keyFor(stage.name)) : stage.closes;
  const addStage = useMutation({
    mutationFn: () => post(`${base}/stages`, { name: stage.name, key: stageKey }),
    onSuccess: async () => { setStage({ key: "", name: "", closes: "open", typedKey: false }); await onChanged(); },
  });
  const editStage = useMutation({
    mutationFn: ({ id, body }: { id: string; body: { name?: string; position?: number } }) => api("PATCH", `${base}/stages/${id}`, body),
    onSettled: async () => { await onChanged(); setOrder(null); },
  });
  const removeStage = useMutation({ mutationFn: (id: string) => api("DELETE", `${base}/stages/${id}`), onSuccess: onChanged });
  const error = change.error ?? remove.error ?? addStage.error ?? editStage.error ?? removeStage.error;
  const sensors = useSensors(useSensor(PointerSensor, { activationConstraint: { distance: 5 } }), useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }));
  const accessibility = useDragAnnouncements((id) => stages.find((s) => s.id === id)?.name ?? String(id));
  const dropped = (event: DragEndEvent) => {
    const from = stages.findIndex((s) => s.id === event.active.id);
    const to = stages.findIndex((s) => s.id === event.over?.id);
    if (from < 0 || to < 0 || from === to) return;
    const next = [...stages];
    next.splice(to, 0, ...next.splice(from, 1));
    setOrder(next);
    editStage.mutate({ id: String(event.active.id), body: { position: to } });
  };
  return (
    <section className="panel stack-plain" aria-label={pipeline.name} data-testid="pipeline-editor">
      {error && <p role="alert" className="error">{problemText(error)}</p>}
      <form className="inline" onSubmit={(e) => { e.preventDefault(); change.mutate({ name }); }}>
        <label className="inline-label">{t("common.name")}<input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} /></label>
        <button type="submit">{t("pipelineSettings.rename")}</button>
        {!pipeline.is_default && <button type="button" onClick={() => change.mutate({ is_default: true })}>{t("pipelineSettings.makeDefault")}</button>}
        <button type="button" onClick={() => {
          if (window.confirm(t("pipelineSettings.confirmDelete", { name: pipeline.name }))) remove.mutate();
        }}>{t("pipelineSettings.delete")}</button>
      </form>
      <h2>{t("pipelineSettings.stages")}</h2>
      <p className="muted">{t("pipelineSettings.dragHint")}</p>
      <DndContext sensors={sensors} collisionDetection={closestCenter} onDragEnd={dropped} accessibility={accessibility}>
        <SortableContext items={stages.map((s) => s.id)} strategy={verticalListSortingStrategy}>
          <ol className="stages" data-testid="stages">
            {stages.map((s) => (
              <StageRow key={s.id} stage={s} onRename={(value) => editStage.mutate({ id: s.id, body: { name: value } })}
                onDelete={() => {
                  if (window.confirm(t("pipelineSettings.confirmDeleteStage", { name: s.name }))) removeStage.mutate(s.id);
                }} />
            ))}
          </ol>
        </SortableContext>
      </DndContext>
      <form className="inline" onSubmit={(e) => { e.preventDefault(); addStage.mutate(); }} aria-label={t("pipelineSettings.addStage")}>
        <label className="inline-label">{t("pipelineSettings.stageName")}<input value={stage.name} onChange={(e) => setStage({ ...stage, name: e.target.value })} required maxLength={200} /></label>
        <label className="inline-label">{t("pipelineSettings.closes")}
          <select value={stage.closes} onChange={(e) => setStage({ ...stage, closes: e.target.value as Closes })}>
            <option value="open">{t("pipelineSettings.keepsOpen")}</option>
            <option value="won">{t("pipelineSettings.closesWon")}</option>
            <option value="lost">{t("pipelineSettings.closesLost")}</option>
          </select>
        </label>
        <label className="inline-label">{t("pipelineSettings.stageKey")}
          <input value={stageKey} disabled={stage.closes !== "open"} onChange={(e) => setStage({ ...stage, key: e.target.value, typedKey: true })}
            required maxLength={40} pattern="[a-z0-9_]+" title={t("pipelineSettings.keyRule")} />
        </label>
        <button type="submit">{t("pipelineSettings.addStage")}</button>
      </form>
    </section>
  );
}

type Closes = "open" | "won" | "lost";

function StageRow({ stage, onRename, onDelete }: { stage: Stage; onRename: (name: string) => void; onDelete: () => void }) {
  const { t } = useTranslation();
  const [name, setName] = useState(stage.name);
  const { attributes, listeners, setNodeRef, transform, transition } = useSortable({ id: stage.id });
  const closes = stage.key === "won" || stage.key === "lost";
  return (
    <li ref={setNodeRef} style={{ transform: CSS.Transform.toString(transform), transition }} className="stage-row" data-testid="stage" data-key={stage.key}>
      <button type="button" className="handle" aria-label={t("pipelineSettings.move", { name: stage.name })} {...attributes} {...listeners}>⠿</button>
      <input aria-label={t("pipelineSettings.nameOf", { key: stage.key })} value={name} onChange={(e) => setName(e.target.value)}
        onBlur={() => name.trim() && name !== stage.name && onRename(name)} maxLength={200} />
      <code>{stage.key}</code>
      {closes && <span className="badge">{stage.key === "won" ? t("pipelineSettings.closesWon") : t("pipelineSettings.closesLost")}</span>}
      <span className="muted">{t("pipelineSettings.openDeals", { count: stage.open_deals })}</span>
      <button type="button" aria-label={t("pipelineSettings.deleteStage", { name: stage.name })} onClick={onDelete}>{t("common.delete")}</button>
    </li>
  );
}
