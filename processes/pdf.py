"""Renders the exam's documents (``processes.documents``) as PDF with fpdf2 (decision D22).

Text is set in DejaVu Sans, a Unicode TrueType font, when the system has it; otherwise in the PDF's
core Helvetica, which holds only latin-1, with every other character transliterated ("Łukasz" →
"Lukasz"), so that no name ever breaks a document. Times are shown in Europe/Amsterdam.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF, FontFace, XPos, YPos

from processes.documents import (
    AssessmentDocument,
    AssignmentDocument,
    EstablishmentDocument,
    ExamHeader,
    Signature,
    WerkprocesBlock,
)
from processes.exam_queries import ProcesVerbaalView
from processes.models import ROLES, utcnow

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_REGULAR, _BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"

# Characters NFKD does not take apart into a latin letter and accents.
_LATIN1 = str.maketrans({
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Œ": "OE", "œ": "oe", "ı": "i", "Ŋ": "N", "ŋ": "n", "Ħ": "H",
    "ħ": "h", "–": "-", "—": "-", "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "…": "...",
    "€": "EUR", "•": "-", "\u00a0": " ",
})


def to_latin1(text: str) -> str:
    """``text`` with every character outside latin-1 replaced by its closest latin letters, else '?'."""
    out = []
    for ch in text.translate(_LATIN1):
        if ord(ch) < 256:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 128 and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


def local_time(at: datetime | None) -> str:
    return at.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M") if at else "—"


JUDGEMENT_SHOWN = {"voldaan": "voldaan", "onvoldoende": "onvoldoende"}
OUTCOME_SHOWN = {"voldaan": "voldaan", "onvoldoende": "niet voldaan"}


class _Document(FPDF):
    def __init__(self, title: str, header: ExamHeader | None, font_dir: Path | None,
                 rows: list[tuple[str, str]] | None = None, reference: str = ""):
        """``header`` names the exam and its student; a document of a whole moment (the proces-verbaal)
        passes its own ``rows`` and ``reference`` instead."""
        super().__init__(format="A4")
        font_dir = FONT_DIR if font_dir is None else font_dir
        self.unicode_font = (font_dir / _REGULAR).is_file() and (font_dir / _BOLD).is_file()
        if self.unicode_font:
            self.add_font("DejaVu", "", str(font_dir / _REGULAR))
            self.add_font("DejaVu", "B", str(font_dir / _BOLD))
            self.face = "DejaVu"
        else:
            self.face = "Helvetica"
        if header is not None:
            rows = [("Examen", header.exam_title), ("Student", f"{header.student_name} ({header.student_number})"),
                    ("School", header.school), ("Crebo · cohort", f"{header.crebo} · {header.cohort}")]
            reference = f"{header.school} · examen {header.instance_id}"
        self.set_title(self.clean(f"{title} · {rows[0][1]}"))
        self.set_author("Examenflow")
        self.set_creator("Examenflow")
        self.footer_text = self.clean(f"Examenflow · {reference} · gemaakt op {local_time(utcnow())}")
        self.set_auto_page_break(True, margin=18)
        self.set_margins(18, 18, 18)
        self.add_page()
        self.set_font(self.face, "B", 16)
        self.paragraph(title, height=8)
        self.set_font(self.face, "", 10)
        self.pairs(rows)
        self.ln(2)

    def clean(self, text: str) -> str:
        text = "".join(ch for ch in str(text) if ch in "\n\t" or unicodedata.category(ch) != "Cc")
        if self.unicode_font:
            return text
        return to_latin1(text)

    def footer(self):
        self.set_y(-13)
        self.set_font(self.face, "", 8)
        self.cell(0, 5, f"{self.footer_text} · pagina {self.page_no()} van {{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(self.face, "B", 12)
        self.paragraph(text, height=7)
        self.set_font(self.face, "", 10)

    def paragraph(self, text: str, height: float = 5) -> None:
        self.multi_cell(0, height, self.clean(text) or " ", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def pairs(self, rows: list[tuple[str, str]]) -> None:
        with self.table(col_widths=(45, 129), text_align="LEFT", first_row_as_headings=False,
                        borders_layout="NONE", line_height=5.5) as table:
            for label, value in rows:
                row = table.row()
                row.cell(self.clean(label), style=FontFace(emphasis="BOLD"))
                row.cell(self.clean(value or "—"))

    def signature(self, sig: Signature, caption: str = "Ondertekend door") -> None:
        self.pairs([(caption, f"{sig.name}, {sig.role_label}"), ("Op", f"{local_time(sig.at)} (Europe/Amsterdam)")]
                   + [("Bevestigd", s) for s in sig.statements])
        self.ln(1)

    def model(self, blocks: tuple[WerkprocesBlock, ...], judged: bool) -> None:
        for wp in blocks:
            self.set_font(self.face, "B", 10)
            outcome = f" — {OUTCOME_SHOWN.get(wp.outcome, wp.outcome)}" if judged and wp.outcome else ""
            self.paragraph(f"Werkproces {wp.code} {wp.title}{outcome}")
            self.set_font(self.face, "", 9)
            widths = (80, 26, 68) if judged else (150, 24)
            headings = ("Criterium", "Oordeel", "Toelichting") if judged else ("Criterium", "Cruciaal")
            with self.table(col_widths=widths, text_align="LEFT", line_height=5,
                            headings_style=FontFace(emphasis="BOLD")) as table:
                row = table.row()
                for h in headings:
                    row.cell(h)
                for c in wp.criteria:
                    row = table.row()
                    row.cell(self.clean(c.text + (" (cruciaal)" if c.crucial and judged else "")))
                    if judged:
                        row.cell(self.clean(JUDGEMENT_SHOWN.get(c.judgement, c.judgement)))
                        row.cell(self.clean(c.justification))
                    else:
                        row.cell("ja" if c.crucial else "nee")
            self.ln(2)
        self.set_font(self.face, "", 10)

    def render(self) -> bytes:
        return bytes(self.output())


def render_assignment(doc: AssignmentDocument, font_dir: Path | None = None) -> bytes:
    pdf = _Document("Examenopdracht (vastgesteld)", doc.header, font_dir)
    pdf.pairs([("Titel", doc.title), ("Examenlocatie", doc.examenlocatie), ("Context", doc.context),
               ("Gewenste einddatum", doc.desired_end_date.strftime("%d-%m-%Y") if doc.desired_end_date else "—"),
               ("Versie van de inhoud", str(doc.content_version))])
    pdf.heading("Opdrachttekst")
    pdf.paragraph(doc.text or "Geen opdrachttekst.")
    pdf.heading("Beoordelingsmodel")
    pdf.model(doc.werkprocessen, judged=False)
    pdf.heading("Goedkeuringen (R14)")
    if not doc.approvals:
        pdf.paragraph("Geen goedkeuringen in het dossier.")
    for sig in doc.approvals:
        pdf.signature(sig, "Goedgekeurd door")
    pdf.heading("Vaststelling")
    pdf.signature(doc.established, "Vastgesteld door")
    return pdf.render()


def render_assessment(doc: AssessmentDocument, font_dir: Path | None = None) -> bytes:
    pdf = _Document(doc.kind_label, doc.header, font_dir)
    pdf.pairs([("Uitslag volgens het model", OUTCOME_SHOWN.get(doc.outcome, doc.outcome)),
               ("Volledig beoordeeld", "ja" if doc.complete else "nee: bewust onvolledig vastgelegd (R26)")])
    pdf.heading("Oordeel per criterium")
    pdf.model(doc.werkprocessen, judged=True)
    if doc.remark:
        pdf.heading("Toelichting bij de beoordeling")
        pdf.paragraph(doc.remark)
    pdf.heading("Ondertekening (R13)")
    pdf.signature(doc.signature)
    for sig in doc.agreed_by:
        pdf.signature(sig, "Akkoord")
    return pdf.render()


def render_establishment(doc: EstablishmentDocument, font_dir: Path | None = None) -> bytes:
    pdf = _Document("Vaststelling eindbeoordeling", doc.header, font_dir)
    werkprocessen = [(f"Werkproces {code}", f"{OUTCOME_SHOWN.get(v, v)} — {title}")
                     for code, title, v in doc.werkprocessen]
    pdf.pairs([("Uitslag", OUTCOME_SHOWN.get(doc.outcome, doc.outcome) + " (definitief, R38)")] + werkprocessen)
    pdf.heading("Vastgesteld")
    pdf.signature(doc.signature, "Vastgesteld door")
    pdf.heading("Beoordelingen waarop de vaststelling berust")
    pdf.set_font(pdf.face, "", 9)
    with pdf.table(col_widths=(34, 62, 34, 44), text_align="LEFT", line_height=5,
                   headings_style=FontFace(emphasis="BOLD")) as table:
        row = table.row()
        for h in ("Soort", "Beoordelaar", "Uitslag", "Vastgelegd op"):
            row.cell(h)
        for a in doc.assessments:
            row = table.row()
            row.cell(("Consensus" if a.kind == "consensus" else "Beoordeling") + (" (grondslag)" if a.basis else ""))
            row.cell(pdf.clean(f"{a.assessor}, {ROLES.get(a.role, a.role)}"))
            row.cell(pdf.clean(OUTCOME_SHOWN.get(a.outcome, a.outcome)))
            row.cell(pdf.clean(local_time(a.at)))
    return pdf.render()


def render_proces_verbaal(pv: ProcesVerbaalView, school: str, font_dir: Path | None = None) -> bytes:
    """The proces-verbaal of an exam moment (R36): who sat it, who did not, what happened, and the
    surveillant's signature."""
    m = pv.moment
    cesuur = f", cesuur {pv.cesuur}" if pv.cesuur is not None else ", cesuur nog niet bekend"
    pdf = _Document("Proces-verbaal van het examenmoment", None, font_dir,
                    rows=[("Examen", m.exam), ("Versie", f"{pv.version}{cesuur}"), ("School", school),
                          ("Examenmoment", f"{local_time(m.starts_at)}, {m.location}")],
                    reference=f"{school} · examenmoment {m.id}")
    present = sum(1 for a in pv.attendance if a.present)
    pdf.heading(f"Aanwezigheid: {present} van {len(pv.attendance)} aanwezig")
    pdf.set_font(pdf.face, "", 9)
    with pdf.table(col_widths=(92, 42, 40), text_align="LEFT", line_height=5,
                   headings_style=FontFace(emphasis="BOLD")) as table:
        row = table.row()
        for h in ("Student", "Studentnummer", "Aanwezig"):
            row.cell(h)
        for a in pv.attendance:
            row = table.row()
            row.cell(pdf.clean(a.name))
            row.cell(pdf.clean(a.number))
            row.cell("aanwezig" if a.present else "afwezig")
    pdf.set_font(pdf.face, "", 10)
    pdf.heading("Bijzonderheden")
    pdf.paragraph(pv.incidents or "Geen bijzonderheden.")
    pdf.heading("Ondertekening (R13)")
    pdf.pairs([("Vastgelegd door", f"{pv.surveillant}, {ROLES.get('surveillant', 'Surveillant')}"),
               ("Op", f"{local_time(pv.recorded_at)} (Europe/Amsterdam)")])
    return pdf.render()
