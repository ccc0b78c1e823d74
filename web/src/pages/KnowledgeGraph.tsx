// A contact's knowledge graph as a picture: entities on a circle, facts as labelled edges. Facts
// the customer later contradicted are dashed and grey, with the dates they held; the list under
// the picture says the same for screen readers.
import { useTranslation } from "react-i18next";
import { circleLayout, day as formatDay } from "../format";

export interface Entity { id: string; name: string; entity_type: string }
export interface Fact { id: string; subject_id: string; object_id: string; predicate: string; fact: string; valid_at: string | null; invalid_at: string | null }

const day = (iso: string | null) => (iso ? formatDay(iso) : "…");

export function KnowledgeGraph({ entities, facts }: { entities: Entity[]; facts: Fact[] }) {
  const { t } = useTranslation();
  if (entities.length === 0) return <p className="muted">{t("graph.none")}</p>;
  const size = 420;
  const points = circleLayout(entities.length, size / 2, size / 2 - 60);
  const at = new Map(entities.map((e, i) => [e.id, points[i]]));
  return (
    <figure className="graph">
      <svg viewBox={`0 0 ${size} ${size}`} role="img" aria-label={t("graph.label")}>
        {facts.map((f) => {
          const a = at.get(f.subject_id);
          const b = at.get(f.object_id);
          if (!a || !b) return null;
          const current = f.invalid_at === null;
          return (
            <g key={f.id} className={current ? "fact current" : "fact invalidated"}>
              <line x1={a.x} y1={a.y} x2={b.x} y2={b.y} strokeDasharray={current ? undefined : "5 4"} />
              <text x={(a.x + b.x) / 2} y={(a.y + b.y) / 2 - 4} textAnchor="middle">{f.predicate}</text>
            </g>
          );
        })}
        {entities.map((e, i) => (
          <g key={e.id} className={`entity ${e.entity_type}`}>
            <circle cx={points[i].x} cy={points[i].y} r={22} />
            <text x={points[i].x} y={points[i].y + 38} textAnchor="middle">{e.name}</text>
          </g>
        ))}
      </svg>
      <figcaption>
        <ul className="facts">
          {facts.map((f) => (
            <li key={f.id} className={f.invalid_at ? "invalidated" : "current"}>
              {f.fact} <span className="muted">({day(f.valid_at)} – {f.invalid_at ? day(f.invalid_at) : t("graph.now")})</span>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
