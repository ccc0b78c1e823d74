"""What the offline agents say to customers, in Portuguese, English and Spanish.

Every line promises only what really happens: where a reply says a colleague will continue, the
agent's suggested actions hand the chat over (`service.suggest_actions`, executed and recorded by
the Rust side); where it says something was recorded, a lead or a ticket (a real record with a
status, linked to the conversation, with a follow-up task whose timer tells the team) is. Nothing
here claims an order was checked, a refund was paid, or prices or documents were sent, because no
code does that. `COMMITMENTS` lists, per language, the phrases that commit to an action and the action
each needs; the tests walk every agent, topic and language against it.
"""

from __future__ import annotations

from .actions import CREATE_LEAD, HANDOFF, OPEN_TICKET, ActionType

# agent type -> topic ("default" when the topic has no line of its own) -> language -> text.
# `{greeting}` and `{memory_line}` are filled per language (below).
TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "CustomerServiceAgent": {
        "default": {
            "en": "{greeting} Thanks for reaching out. {memory_line}How can I help you today?",
            "pt": "{greeting} Obrigado pelo contato. {memory_line}Como posso ajudar?",
            "es": "{greeting} Gracias por escribirnos. {memory_line}¿En qué puedo ayudarte?",
        },
        # A question the offline agent cannot answer: it says so and hands over.
        "question": {
            "en": "{greeting} {memory_line}I don't want to give you a wrong answer, so I've passed your question to a colleague, who will reply here.",
            "pt": "{greeting} {memory_line}Para não te passar uma informação errada, encaminhei sua pergunta para um colega, que vai responder aqui.",
            "es": "{greeting} {memory_line}Para no darte una información equivocada, pasé tu pregunta a un compañero, que te responderá aquí.",
        },
    },
    "SalesAgent": {
        "purchase": {
            "en": "{greeting} Great choice! {memory_line}I've registered your interest. How many would you like, and which city should it go to?",
            "pt": "{greeting} Ótima escolha! {memory_line}Registrei o seu interesse. Quantas unidades você quer e para qual cidade seria a entrega?",
            "es": "{greeting} ¡Excelente elección! {memory_line}Registré tu interés. ¿Cuántas unidades quieres y a qué ciudad sería el envío?",
        },
        "pricing": {
            "en": "{greeting} {memory_line}I've passed your question to a colleague, who will send you our current prices here.",
            "pt": "{greeting} {memory_line}Encaminhei sua pergunta para um colega, que vai te enviar os preços atualizados aqui.",
            "es": "{greeting} {memory_line}Pasé tu pregunta a un compañero, que te enviará los precios actualizados aquí.",
        },
        "default": {
            "en": "{greeting} {memory_line}Tell me what you're looking for and I'll help you choose.",
            "pt": "{greeting} {memory_line}Me conta o que você procura que eu te ajudo a escolher.",
            "es": "{greeting} {memory_line}Cuéntame qué buscas y te ayudo a elegir.",
        },
    },
    "RetentionAgent": {
        "default": {
            "en": "{greeting} I'm sorry to hear you're thinking of leaving. {memory_line}I've recorded your cancellation request and passed your conversation to a colleague, who will talk to you here about what we can do.",
            "pt": "{greeting} Sinto muito que você esteja pensando em sair. {memory_line}Registrei o seu pedido de cancelamento e encaminhei a conversa para um colega, que vai falar com você aqui sobre o que podemos fazer.",
            "es": "{greeting} Lamento que estés pensando en irte. {memory_line}Registré tu solicitud de cancelación y pasé la conversación a un compañero, que hablará contigo aquí sobre lo que podemos hacer.",
        },
    },
    "SupportTicketAgent": {
        "default": {
            "en": "{greeting} I'm sorry about the trouble. {memory_line}I've opened a ticket for our support team and passed your conversation to them; they will continue here. Meanwhile, when did it start?",
            "pt": "{greeting} Sinto muito pelo problema. {memory_line}Abri um chamado para a nossa equipe de suporte e encaminhei a conversa para eles, que vão continuar o atendimento aqui. Enquanto isso, quando começou?",
            "es": "{greeting} Lamento el problema. {memory_line}Abrí un ticket para nuestro equipo de soporte y les pasé la conversación; seguirán la atención aquí. Mientras tanto, ¿cuándo empezó?",
        },
    },
    "OrderStatusAgent": {
        "default": {
            "en": "{greeting} {memory_line}I can't see order tracking from here, so I've passed your question to a colleague, who will answer here.",
            "pt": "{greeting} {memory_line}Não consigo ver o rastreio do pedido por aqui, então encaminhei sua pergunta para um colega, que vai responder aqui.",
            "es": "{greeting} {memory_line}No puedo ver el seguimiento del pedido desde aquí, así que pasé tu pregunta a un compañero, que te responderá aquí.",
        },
    },
    "BillingAgent": {
        "default": {
            "en": "{greeting} {memory_line}I've passed your question to a colleague from billing, who will look at your account and answer here.",
            "pt": "{greeting} {memory_line}Encaminhei sua pergunta para um colega do financeiro, que vai olhar a sua conta e responder aqui.",
            "es": "{greeting} {memory_line}Pasé tu pregunta a un compañero de facturación, que revisará tu cuenta y te responderá aquí.",
        },
    },
    "SchedulingAgent": {
        "default": {
            "en": "{greeting} Happy to schedule that. {memory_line}Which day and time work best for you?",
            "pt": "{greeting} Claro, vamos agendar. {memory_line}Qual dia e horário ficam melhores para você?",
            "es": "{greeting} Claro, agendemos. {memory_line}¿Qué día y hora te quedan mejor?",
        },
    },
    "ComplaintEscalationAgent": {
        "default": {
            "en": "{greeting} I'm really sorry about this. {memory_line}I'm passing your conversation to a member of our team right now.",
            "pt": "{greeting} Sinto muito por isso. {memory_line}Estou passando a sua conversa para alguém da nossa equipe agora mesmo.",
            "es": "{greeting} Lo siento mucho. {memory_line}Estoy pasando tu conversación a alguien de nuestro equipo ahora mismo.",
        },
    },
    "FeedbackAgent": {
        "default": {
            "en": "{greeting} Thank you for the feedback! {memory_line}It really helps us improve.",
            "pt": "{greeting} Obrigado pelo seu retorno! {memory_line}Isso nos ajuda muito a melhorar.",
            "es": "{greeting} ¡Gracias por tu opinión! {memory_line}Nos ayuda mucho a mejorar.",
        },
    },
    "OnboardingAgent": {
        "default": {
            "en": "{greeting} Welcome aboard! {memory_line}What would you like to do first?",
            "pt": "{greeting} Seja bem-vindo! {memory_line}O que você gostaria de fazer primeiro?",
            "es": "{greeting} ¡Bienvenido! {memory_line}¿Qué te gustaría hacer primero?",
        },
    },
    "ReactivationAgent": {
        "default": {
            "en": "{greeting} It's been a while! {memory_line}Is there anything we can help you with?",
            "pt": "{greeting} Quanto tempo! {memory_line}Podemos te ajudar com alguma coisa?",
            "es": "{greeting} ¡Cuánto tiempo! {memory_line}¿Podemos ayudarte con algo?",
        },
    },
    "ProductInfoAgent": {
        "default": {
            "en": "{greeting} {memory_line}I've passed your question to a colleague, who will send you the product details and availability here.",
            "pt": "{greeting} {memory_line}Encaminhei sua pergunta para um colega, que vai te enviar os detalhes e a disponibilidade do produto aqui.",
            "es": "{greeting} {memory_line}Pasé tu pregunta a un compañero, que te enviará los detalles y la disponibilidad del producto aquí.",
        },
    },
    "RefundAgent": {
        "default": {
            "en": "{greeting} I understand. {memory_line}I've recorded your refund request and passed it to a colleague, who will confirm the next steps here.",
            "pt": "{greeting} Entendo. {memory_line}Registrei o seu pedido de reembolso e encaminhei para um colega, que vai confirmar os próximos passos aqui.",
            "es": "{greeting} Entiendo. {memory_line}Registré tu solicitud de reembolso y la pasé a un compañero, que confirmará los próximos pasos aquí.",
        },
    },
    "SmallTalkAgent": {
        "default": {
            "en": "{greeting} {memory_line}How can I help you today?",
            "pt": "{greeting} Tudo ótimo por aqui! {memory_line}Como posso ajudar?",
            "es": "{greeting} ¡Todo bien por aquí! {memory_line}¿En qué puedo ayudarte?",
        },
    },
}

# An answer from the business's knowledge base: the passage itself, in the business's words.
# `{note}` says, when the passage is in another language than the customer's, that it is quoted.
KNOWLEDGE_ANSWER = {
    "en": "{greeting} {note}{passage} Is there anything else I can help with?",
    "pt": "{greeting} {note}{passage} Posso ajudar em mais alguma coisa?",
    "es": "{greeting} {note}{passage} ¿Puedo ayudarte con algo más?",
}
QUOTED_NOTE = {
    "en": "Here is what our information says: ",
    "pt": "Veja o que diz a nossa informação: ",
    "es": "Esto es lo que dice nuestra información: ",
}

GREETING = {
    "en": ("Hi {name}!", "Hi!"),
    "pt": ("Olá, {name}!", "Olá!"),
    "es": ("¡Hola, {name}!", "¡Hola!"),
}
MEMORY_LINE = {
    "en": "I see from your history: {memory}. ",
    "pt": "Vejo no seu histórico: {memory}. ",
    "es": "Veo en tu historial: {memory}. ",
}

# Phrases that commit to an action, per language, and the action (a suggested action type) each
# needs in the same answer. "passed … to a colleague" is a handoff; "registered your interest" a
# lead; "opened a ticket" and "recorded your refund / cancellation request" a ticket.
COMMITMENTS: dict[str, tuple[tuple[str, ActionType], ...]] = {
    "en": (
        ("passed your", HANDOFF),
        ("passed it", HANDOFF),
        ("passing your", HANDOFF),
        ("registered your interest", CREATE_LEAD),
        ("opened a ticket", OPEN_TICKET),
        ("recorded your refund", OPEN_TICKET),
        ("recorded your cancellation", OPEN_TICKET),
    ),
    "pt": (
        ("encaminhei", HANDOFF),
        ("passando a sua conversa", HANDOFF),
        ("registrei o seu interesse", CREATE_LEAD),
        ("abri um chamado", OPEN_TICKET),
        ("registrei o seu pedido de reembolso", OPEN_TICKET),
        ("registrei o seu pedido de cancelamento", OPEN_TICKET),
    ),
    "es": (
        ("pasé tu", HANDOFF),
        ("pasé la conversación", HANDOFF),
        ("lo pasé", HANDOFF),
        ("la pasé", HANDOFF),
        ("pasando tu conversación", HANDOFF),
        ("registré tu interés", CREATE_LEAD),
        ("abrí un ticket", OPEN_TICKET),
        ("registré tu solicitud de reembolso", OPEN_TICKET),
        ("registré tu solicitud de cancelación", OPEN_TICKET),
    ),
}

# The ticket a topic opens (kind, as the Rust side stores it) and its subject and follow-up title
# in the conversation's language, which is what the business's operators read.
TICKET_KINDS = {"refund": "refund", "cancel": "cancellation", "support": "support"}
TICKET_SUBJECTS = {
    "refund": {"en": "Refund request", "pt": "Pedido de reembolso", "es": "Solicitud de reembolso"},
    "cancellation": {
        "en": "Cancellation request",
        "pt": "Pedido de cancelamento",
        "es": "Solicitud de cancelación",
    },
    "support": {"en": "Technical problem", "pt": "Problema técnico", "es": "Problema técnico"},
}
FOLLOW_UP_TITLES = {
    "en": "Answer the customer: {subject}",
    "pt": "Responder ao cliente: {subject}",
    "es": "Responder al cliente: {subject}",
}
# How long a ticket may wait before its follow-up task tells the team (the task's durable timer).
FOLLOW_UP_MINUTES = 240

# Promises no code keeps, in any language: a reply containing one is a bug.
FALSE_PROMISES = (
    "i'll send",
    "i will send",
    "i've started your refund",
    "let me check your order",
    "vou te enviar",
    "vou enviar",
    "iniciei o seu reembolso",
    "te enviaré",
    "inicié tu reembolso",
)


def template(agent_type: str, topic: str, language: str) -> str | None:
    """The line an agent says for a topic in a language (its default line when the topic has none)."""
    lines = TEMPLATES.get(agent_type)
    if not lines:
        return None
    by_language = lines.get(topic) or lines.get("default")
    if not by_language:
        return None
    return by_language.get(language) or by_language["en"]


def greeting(first_name: str, language: str) -> str:
    named, plain = GREETING.get(language, GREETING["en"])
    return named.format(name=first_name) if first_name else plain


def memory_line(memory: str, language: str) -> str:
    return MEMORY_LINE.get(language, MEMORY_LINE["en"]).format(memory=memory)


def knowledge_answer(greeting: str, passage: str, language: str, quoted: bool) -> str:
    note = QUOTED_NOTE.get(language, QUOTED_NOTE["en"]) if quoted else ""
    template = KNOWLEDGE_ANSWER.get(language, KNOWLEDGE_ANSWER["en"])
    return template.format(greeting=greeting, note=note, passage=passage)


def ticket_subject(kind: str, language: str) -> str:
    by_language = TICKET_SUBJECTS[kind]
    return by_language.get(language) or by_language["en"]


def follow_up_title(kind: str, language: str) -> str:
    template = FOLLOW_UP_TITLES.get(language, FOLLOW_UP_TITLES["en"])
    return template.format(subject=ticket_subject(kind, language).lower())
