"""Synthetic Brazilian-Portuguese CRM histories with retrieval questions, in LoCoMo's format.

Why: LoCoMo is English small talk; our customers write Portuguese to shops on WhatsApp. Each
history here is one customer's months of chats with one business: purchases (what, how much, how
paid, the order number), complaints (the defect in the customer's words, the protocol), moves,
preferences, family dates, deliveries and scheduling, among greetings, promotions the customer
did not take (hard negatives) and small talk. Every question names the turns that answer it
(`evidence`), worded the way an operator or agent would ask, not copied from the answer.

Categories follow LoCoMo's numbering: 1 multi-hop (the evidence spans sessions), 2 temporal
(when, or what is true now after a change), 4 single-hop.

    python bench/datasets/gen_crm_ptbr.py   # writes bench/datasets/crm-ptbr/*.json

Deterministic (fixed seed): the committed files are what this prints.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "crm-ptbr"
MONTHS_PT = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto",
             "setembro", "outubro", "novembro", "dezembro"]

BUSINESSES = [
    {
        "store": "Casa Aurora Móveis", "agent": "Juliana",
        "products": [("sofá retrátil de 3 lugares", 2890), ("mesa de jantar de madeira maciça", 1750),
                     ("guarda-roupa de 6 portas", 2390), ("cama box queen", 1980),
                     ("rack para TV de 65 polegadas", 890), ("cadeira de escritório ergonômica", 1190)],
        "defects": ["chegou com uma parte lascada", "veio faltando parafusos da montagem",
                    "apareceu uma mancha escura que não sai", "está rangendo muito",
                    "veio numa cor diferente da que eu escolhi"],
        "service": "montagem",
    },
    {
        "store": "Eletro Brasil", "agent": "Rafael",
        "products": [("geladeira frost free de 480 litros", 4290), ("lava e seca de 11 kg", 3590),
                     ("smart TV de 55 polegadas", 2990), ("ar-condicionado split de 12 mil BTUs", 2450),
                     ("micro-ondas de 30 litros", 690), ("notebook com 16 GB de memória", 4190)],
        "defects": ["faz um barulho alto quando liga", "chegou com a lateral amassada",
                    "desliga sozinho depois de meia hora", "parou de funcionar depois de uma semana",
                    "veio sem o cabo de força"],
        "service": "instalação",
    },
    {
        "store": "Ótica Visão Clara", "agent": "Patrícia",
        "products": [("óculos de grau com armação de acetato", 780), ("lentes multifocais antirreflexo", 1450),
                     ("óculos de sol polarizado", 560), ("lentes de contato mensais", 240),
                     ("armação infantil flexível", 320)],
        "defects": ["está arranhando muito fácil", "me deu dor de cabeça desde o primeiro dia",
                    "veio com um risco bem no meio", "chegou diferente do modelo que escolhi"],
        "service": "ajuste da armação",
    },
    {
        "store": "PetShop Amigo Fiel", "agent": "Camila",
        "products": [("ração premium para cães adultos de 15 kg", 289), ("cama ortopédica para cachorro", 350),
                     ("arranhador grande para gatos", 420), ("coleira antipulgas", 180),
                     ("caixa de transporte tamanho médio", 260)],
        "defects": ["chegou com a embalagem rasgada", "deu alergia no meu cachorro",
                    "veio no tamanho errado", "estragou em menos de um mês"],
        "service": "banho e tosa", "service_for": "do Thor, meu golden", "service_q": "do cachorro de {nome}",
    },
    {
        "store": "Conecta Fibra Internet", "agent": "Bruno",
        "products": [("plano de fibra de 500 megas", 119), ("plano de fibra de 1 giga", 169),
                     ("roteador wi-fi 6 extra", 350), ("ponto adicional de TV", 49)],
        "defects": ["cai toda noite depois das dez", "não passa de 80 megas de velocidade",
                    "reinicia sozinho várias vezes por dia", "está sem sinal desde ontem"],
        "service": "visita técnica",
    },
    {
        "store": "Doce Encanto Confeitaria", "agent": "Larissa",
        "products": [("bolo de casamento de três andares", 1800), ("cento de brigadeiros gourmet", 190),
                     ("torta de limão grande", 120), ("bolo de aniversário de chocolate com morango", 260),
                     ("kit de docinhos para chá de bebê", 340)],
        "defects": ["chegou amassado de um lado", "veio com gosto azedo",
                    "chegou duas horas atrasado", "veio com a decoração errada"],
        "service": "entrega agendada",
    },
]

CUSTOMERS = [("Ana Souza", "f"), ("Carlos Pereira", "m"), ("Fernanda Lima", "f"),
             ("Rodrigo Almeida", "m"), ("Beatriz Costa", "f"), ("Marcelo Ribeiro", "m")]
PLACES = [("Vila Mariana", "São Paulo"), ("Boa Viagem", "Recife"), ("Savassi", "Belo Horizonte"),
          ("Moinhos de Vento", "Porto Alegre"), ("Batel", "Curitiba"), ("Barra", "Salvador"),
          ("Cambuí", "Campinas"), ("Meireles", "Fortaleza"), ("Asa Sul", "Brasília")]
RELATIVES = [("filha", "Laura"), ("filho", "Miguel"), ("mãe", "dona Cida"), ("esposa", "Renata"),
             ("marido", "Paulo"), ("sobrinha", "Helena")]
PREFERENCES = [
    ("prefiro que entreguem sempre de manhã, à tarde eu trabalho fora",
     "Qual período de entrega {nome} prefere?", "de manhã"),
    ("pode me mandar as novidades só por WhatsApp? E-mail eu nunca leio",
     "Por qual canal {nome} quer receber novidades?", "WhatsApp"),
    ("não gosto de nada na cor preta, lá em casa é tudo claro, bege ou branco",
     "Quais cores {nome} evita?", "preto"),
    ("gosto de pagar no Pix, cartão eu uso pouco", "Qual forma de pagamento {nome} prefere?", "Pix"),
    ("quando for ligar, só depois das 18h, antes eu estou em reunião",
     "A partir de que horas dá para ligar para {nome}?", "18h"),
]
GREETINGS = ["Bom dia! Tudo bem?", "Oi, boa tarde!", "Oi! Sou eu de novo rsrs", "Boa noite, tudo certo?"]
GOODBYES = ["Obrigad{a} pela atenção 😊", "Valeu, até mais!", "Tá bom, fico aguardando",
            "Perfeito, muito obrigad{a}", "Beleza, combinado então"]
FILLER_B = ["Olá! Aqui é {agent} da {store}, como posso ajudar?", "Imagina, estamos à disposição!",
            "Qualquer coisa é só chamar por aqui 😉", "Vou verificar e já te retorno, tá?",
            "Tenha um ótimo dia!", "Prontinho, anotado aqui no sistema."]
PROMOS = ["Passando para avisar que {p} está com 15% de desconto só esta semana!",
          "Chegou novidade: {p} com frete grátis para toda a região 🚚",
          "Black Friday antecipada: {p} em até 10x sem juros!"]


FEMININE = {"mesa", "cama", "cadeira", "geladeira", "lava", "smart", "armação", "ração", "coleira",
             "caixa", "torta"}
PLURAL = {"lentes": "as", "óculos": "os"}


def o(product: str) -> str:
    """The product with its article ("o sofá", "a mesa", "as lentes")."""
    first = product.split()[0]
    if first in PLURAL:
        return f"{PLURAL[first]} {product}"
    return f"{'a' if first in FEMININE else 'o'} {product}"


def do(product: str) -> str:
    """"do sofá", "da mesa", "das lentes"."""
    art = o(product).split()[0]
    return {"o": "do", "a": "da", "os": "dos", "as": "das"}[art] + " " + product


def pt_date(d: datetime) -> str:
    return f"{d.day} de {MONTHS_PT[d.month - 1]}"


def locomo_time(d: datetime) -> str:
    return d.strftime("%-I:%M %p on %-d %B, %Y").replace("AM", "am").replace("PM", "pm")


class History:
    def __init__(self, rng: random.Random, customer: tuple[str, str], biz: dict, start: datetime):
        self.rng, self.biz = rng, biz
        self.name, self.gender = customer
        self.first = self.name.split()[0]
        self.sessions: list[tuple[datetime, list[dict]]] = []
        self.qa: list[dict] = []
        self.at = start

    def session(self) -> list[dict]:
        self.at += timedelta(days=self.rng.randint(4, 26), hours=self.rng.randint(-3, 3))
        turns: list[dict] = []
        self.sessions.append((self.at, turns))
        return turns

    def say(self, turns: list[dict], who: str, text: str) -> str:
        dia = f"D{len(self.sessions)}:{len(turns) + 1}"
        speaker = self.name if who == "c" else f"{self.biz['agent']} ({self.biz['store']})"
        turns.append({"speaker": speaker, "dia_id": dia, "text": text})
        return dia

    def opening(self, turns):
        self.say(turns, "c", self.rng.choice(GREETINGS))
        self.say(turns, "b", FILLER_B[0].format(**self.biz))

    def closing(self, turns):
        self.say(turns, "c", self.rng.choice(GOODBYES).format(a="a" if self.gender == "f" else "o"))
        self.say(turns, "b", self.rng.choice(FILLER_B[1:]).format(**self.biz))

    def ask(self, question: str, answer: str, evidence: list[str], category: int):
        self.qa.append({"question": question.format(nome=self.first), "answer": answer,
                        "evidence": evidence, "category": category})


def build(rng: random.Random, customer, biz, start) -> History:
    h = History(rng, customer, biz, start)
    products = rng.sample(biz["products"], k=min(3, len(biz["products"])))
    places = rng.sample(PLACES, k=3)
    relative, rel_name = rng.choice(RELATIVES)
    defects = rng.sample(biz["defects"], k=2)
    prefs = rng.sample(PREFERENCES, k=2)
    bought: list[str] = []
    complaints: list[str] = []
    moves: list[tuple[str, datetime]] = []

    # The first address, given with the first purchase.
    def purchase(product, price):
        t = h.session()
        h.opening(t)
        ask = h.say(t, "c", f"Queria fechar {'aquela' if o(product).startswith('a ') else 'aquele'} {product} que vi no Instagram de vocês. Ainda tem?")
        h.say(t, "b", f"Tem sim! {o(product).capitalize()} sai por R$ {price:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") + ". Como prefere pagar?")
        n = rng.choice([3, 5, 6, 10, 12])
        pay = h.say(t, "c", f"Vou parcelar no cartão em {n} vezes")
        order = f"{rng.randint(10000, 99999)}"
        conf = h.say(t, "b", f"Fechado! Seu pedido é o número {order}, qualquer coisa me passa esse código ✅")
        h.closing(t)
        bought.append(ask)
        h.ask(f"Em quantas parcelas {{nome}} pagou {o(product)}?", f"{n} vezes", [pay], 4)
        h.ask(f"Qual é o número do pedido {do(product)} de {{nome}}?", order, [conf], 4)
        h.ask(f"Quando {{nome}} comprou {o(product)}?", pt_date(h.at), [ask], 2)
        return pay

    def move(i):
        bairro, cidade = places[i]
        t = h.session()
        h.opening(t)
        if i == 0:
            d = h.say(t, "c", f"Antes de tudo: meu endereço é no bairro {bairro}, em {cidade}. Pode cadastrar?")
        else:
            d = h.say(t, "c", f"Mudei de casa! Agora estou no {bairro}, lá em {cidade}. Atualiza meu cadastro, por favor")
        h.say(t, "b", "Atualizado! Obrigado por avisar 🏠")
        h.closing(t)
        moves.append((d, h.at))
        if i > 0:
            h.ask(f"Para qual cidade {{nome}} se mudou em {MONTHS_PT[h.at.month - 1]}?", cidade, [d], 2)

    def complaint(product):
        t = h.session()
        h.opening(t)
        defect = defects[len(complaints)]
        d = h.say(t, "c", f"Estou {'chateada' if h.gender == 'f' else 'chateado'}, {o(product)} {defect}")
        proto = f"{rng.randint(2024, 2025)}{rng.randint(100000, 999999)}"
        p = h.say(t, "b", f"Sinto muito! Já abri a ocorrência, o protocolo é {proto}. Vamos resolver")
        h.say(t, "c", "Espero que resolvam rápido, preciso dele")
        fix = rng.choice(["trocar por um novo", "mandar um técnico", "devolver o dinheiro"])
        f = h.say(t, "b", f"Vamos {fix} em até 5 dias úteis, combinado?")
        h.closing(t)
        complaints.append((d, defect))
        h.ask(f"Que defeito {{nome}} relatou n{o(product)}?", defect, [d], 4)
        h.ask(f"Qual o protocolo da reclamação de {{nome}} sobre {o(product)}?", proto, [p], 4)
        h.ask(f"O que a loja prometeu fazer sobre o problema {do(product)}?", fix, [f], 4)

    def preference(pref):
        text, question, answer = pref
        t = h.session()
        h.opening(t)
        d = h.say(t, "c", f"Ah, uma coisa: {text}")
        h.say(t, "b", "Anotado, vou deixar registrado no seu cadastro!")
        h.closing(t)
        h.ask(question, answer, [d], 4)

    def family():
        t = h.session()
        h.opening(t)
        day = h.at + timedelta(days=rng.randint(8, 20))
        d = h.say(t, "c", f"Dia {day.day} de {MONTHS_PT[day.month - 1]} é aniversário da minha {relative} {rel_name}"
                  if relative in ("filha", "mãe", "esposa", "sobrinha")
                  else f"Dia {day.day} de {MONTHS_PT[day.month - 1]} é aniversário do meu {relative} {rel_name}")
        h.say(t, "b", "Que legal! Quer ver alguma ideia de presente?")
        budget = rng.choice([150, 200, 300, 500])
        g = h.say(t, "c", f"Quero sim, algo até uns R$ {budget}, nada muito caro")
        h.say(t, "b", "Vou separar algumas opções e te mando as fotos 📸")
        h.closing(t)
        a = "a" if relative in ("filha", "mãe", "esposa", "sobrinha") else "o"
        h.ask(f"Como se chama {a} {relative} de {{nome}}?", rel_name, [d], 4)
        h.ask(f"Quando é o aniversário d{a} {relative} de {{nome}}?", pt_date(day), [d], 2)
        h.ask("Quanto {nome} queria gastar no presente de aniversário?", f"até R$ {budget}", [g], 4)

    def schedule(product):
        t = h.session()
        h.opening(t)
        day = h.at + timedelta(days=rng.randint(2, 6))
        hour = rng.choice(["9h", "10h30", "14h", "16h"])
        art = "o" if biz["service"] == "banho e tosa" else "a"
        target = biz.get("service_for", do(product))
        d = h.say(t, "c", f"Dá para marcar {art} {biz['service']} {target} para {pt_date(day)}, às {hour}?")
        h.say(t, "b", "Consigo sim, ficou agendado ✅ O técnico avisa quando estiver a caminho")
        h.closing(t)
        target_q = biz.get("service_q", do(product))
        h.ask(f"Para quando ficou {'marcado' if art == 'o' else 'marcada'} {art} {biz['service']} {target_q}?",
              f"{pt_date(day)} às {hour}", [d], 2)

    def promo():
        t = h.session()
        other = rng.choice([p for p, _ in biz["products"] if p not in [x for x, _ in products]])
        h.say(t, "b", rng.choice(PROMOS).format(p=other))
        h.say(t, "c", rng.choice(["Agora não, obrigad" + ("a" if h.gender == "f" else "o"), "Vou pensar, valeu!",
                                  "Legal, mas no momento não preciso"]))

    def chat():
        t = h.session()
        h.opening(t)
        h.say(t, "c", rng.choice(["Vocês abrem no feriado?", "Qual o horário de vocês no sábado?",
                                  "Vocês têm loja física perto do centro?"]))
        h.say(t, "b", rng.choice(["Abrimos sim, das 9h às 14h!", "Sábado até as 18h 😉",
                                  "Temos sim, na avenida principal, do lado do banco"]))
        h.closing(t)

    move(0)
    plan = ["purchase0", "promo", "complaint0", "pref0", "purchase1", "chat", "move1", "family",
            "schedule1", "promo", "pref1", "purchase2", "complaint2", "move2", "chat"]
    for step in plan:
        if step.startswith("purchase"):
            p, price = products[int(step[-1])]
            purchase(p, price)
        elif step.startswith("complaint"):
            complaint(products[int(step[-1])][0])
        elif step.startswith("pref"):
            preference(prefs[int(step[-1])])
        elif step.startswith("move"):
            move(int(step[-1]))
        elif step.startswith("schedule"):
            schedule(products[int(step[-1])][0])
        elif step == "family":
            family()
        elif step == "promo":
            promo()
        else:
            chat()

    # Across sessions, and what is true now after changes.
    h.ask("Quais produtos {nome} já comprou com a gente?", ", ".join(p for p, _ in products), bought, 1)
    h.ask("Que problemas {nome} já reclamou até hoje?", "; ".join(x for _, x in complaints),
          [d for d, _ in complaints], 1)
    h.ask("Em que cidade {nome} mora atualmente?", places[2][1], [moves[-1][0]], 2)
    h.ask("Por quais cidades {nome} já passou desde que é cliente?", ", ".join(c for _, c in places),
          [d for d, _ in moves], 1)
    return h


def main() -> None:
    rng = random.Random(20261204)
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (customer, biz) in enumerate(zip(CUSTOMERS, BUSINESSES)):
        start = datetime(2025, 1, 6, 10, 0) + timedelta(days=rng.randint(0, 40))
        h = build(rng, customer, biz, start)
        conversation = {"speaker_a": h.name, "speaker_b": f"{biz['agent']} ({biz['store']})"}
        for n, (at, turns) in enumerate(h.sessions, start=1):
            conversation[f"session_{n}_date_time"] = locomo_time(at)
            conversation[f"session_{n}"] = turns
        (OUT / f"{i + 1:02d}.json").write_text(
            json.dumps({"sample_id": f"crm-ptbr-{i + 1}", "conversation": conversation, "qa": h.qa},
                       ensure_ascii=False, indent=1) + "\n")
        print(f"{h.name} × {biz['store']}: {len(h.sessions)} sessions, "
              f"{sum(len(t) for _, t in h.sessions)} turns, {len(h.qa)} questions")


if __name__ == "__main__":
    main()
