// The API's request and response types, as generated from its OpenAPI document
// (src/generated/api.ts, by `scripts/gen-api-types.sh`). Pages import their types from here
// instead of writing interfaces that mirror the API by hand: a renamed or retyped field is then
// a type error in the web app, not a blank cell.
import type { components } from "./generated/api";

type Schemas = components["schemas"];

export type Deal = Schemas["Deal"];
export type DealStatus = Schemas["DealStatus"];
export type Pipeline = Schemas["Pipeline"];
export type Stage = Schemas["Stage"];
export type KnowledgeDocument = Schemas["KnowledgeDocument"];
export type KnowledgeFormat = Schemas["KnowledgeFormat"];
export type KnowledgePassage = Schemas["KnowledgePassage"];
export type KnowledgeSource = Schemas["KnowledgeSource"];
export type Ticket = Schemas["Ticket"];
export type TicketKind = Schemas["TicketKind"];
export type TicketStatus = Schemas["TicketStatus"];
export type Task = Schemas["Task"];
export type TaskStatus = Schemas["TaskStatus"];
export type Note = Schemas["Note"];
export type QuickReply = Schemas["QuickReply"];
export type MediaFile = Schemas["MediaFile"];
export type UploadedMedia = Schemas["UploadedMedia"];
export type Me = Schemas["Me"];
export type User = Schemas["User"];
export type CampaignStatus = Schemas["CampaignStatus"];
export type RecipientStatus = Schemas["RecipientStatus"];
export type Role = Schemas["Role"];
export type ApiKey = Schemas["ApiKey"];
export type CreatedApiKey = Schemas["CreatedApiKey"];
export type Subscription = Schemas["Subscription"];
export type Subscriptions = Schemas["Subscriptions"];
export type CreatedSubscription = Schemas["CreatedSubscription"];
export type Delivery = Schemas["Delivery"];
export type Segment = Schemas["Segment"];
export type FilterPreview = Schemas["FilterPreview"];
export type MergePreview = Schemas["MergePreview"];
export type StartedMerge = Schemas["StartedMerge"];
export type Merge = Schemas["Merge"];
export type Invitation = Schemas["Invitation"];
export type CreatedInvitation = Schemas["CreatedInvitation"];
export type InvitationView = Schemas["InvitationView"];
export type AcceptedInvitation = Schemas["AcceptedInvitation"];
export type Channel = Schemas["Channel"];
export type WebhookSetup = Schemas["WebhookSetup"];
export type PacingView = Schemas["PacingView"];
export type Contact = Schemas["Contact"];
export type ContactSummary = Schemas["ContactSummary"];
