// What screen readers hear while something is dragged (dnd-kit's live region and instructions),
// in the user's language: dnd-kit's own announcements are English only.
import type { Announcements, ScreenReaderInstructions, UniqueIdentifier } from "@dnd-kit/core";
import { useTranslation } from "react-i18next";

export function useDragAnnouncements(nameOf: (id: UniqueIdentifier) => string): { announcements: Announcements; screenReaderInstructions: ScreenReaderInstructions } {
  const { t } = useTranslation();
  return {
    screenReaderInstructions: { draggable: t("dnd.instructions") },
    announcements: {
      onDragStart: ({ active }) => t("dnd.picked", { item: nameOf(active.id) }),
      onDragOver: ({ active, over }) => (over ? t("dnd.over", { item: nameOf(active.id), place: nameOf(over.id) }) : t("dnd.nowhere", { item: nameOf(active.id) })),
      onDragEnd: ({ active, over }) => (over ? t("dnd.dropped", { item: nameOf(active.id), place: nameOf(over.id) }) : t("dnd.droppedNowhere", { item: nameOf(active.id) })),
      onDragCancel: ({ active }) => t("dnd.cancelled", { item: nameOf(active.id) }),
    },
  };
}
