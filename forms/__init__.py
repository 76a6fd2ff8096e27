"""Form definitions for user tasks: files in ``forms/``, validation and render descriptions.

A BPMN user task names its form with ``camunda:formKey``; the form file of that key (see
``forms/README.md``) is both the server's validation and the HTML's source. No Flask in here.
"""

from .criteria import CriteriaModelError, check_criteria_model, compute_result
from .model import (
    FieldDef,
    FormDef,
    FormFileError,
    load_form_dir,
    load_form_file,
    parse_form,
    shipped_forms_dir,
)
from .render import render_description, unplaced_errors
from .validation import FormInvalid, build_schema, unflatten_form, validate

__all__ = [
    "CriteriaModelError",
    "FieldDef",
    "FormDef",
    "FormFileError",
    "FormInvalid",
    "build_schema",
    "check_criteria_model",
    "compute_result",
    "load_form_dir",
    "load_form_file",
    "parse_form",
    "render_description",
    "shipped_forms_dir",
    "unflatten_form",
    "unplaced_errors",
    "validate",
]
