"""The pages' forms (Flask-WTF: each POST form carries its CSRF token).

Fields only say what shape a value has; whether a PESEL, TERYT or CSR is acceptable is decided
by the core, whose errors name the field and are shown next to it (``add_error``) in words
from ``enrollment_web.messages``. Every message here is the visitor's language, never
WTForms' English.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from enrollment_web.i18n import lt

__all__ = ["LoginForm", "TotpForm", "ApplicantForm", "CsrForm", "TokenForm", "PickupForm",
           "RevokeForm", "ResidentRevokeForm", "AuditFilterForm", "OrganizationForm",
           "TokenActionForm", "UnblockForm", "ReplaceForm", "EmptyForm", "UserForm",
           "NewPasswordForm", "RoleForm", "ApiKeyForm", "add_error", "mark_first_error",
           "required", "at_most"]


def required(pl: str, en: str) -> DataRequired:
    return DataRequired(message=lt(pl, en))


def at_most(n: int) -> Length:
    return Length(max=n, message=lt(f"Najwyżej {n} znaków.", f"At most {n} characters."))


def add_error(form, name: str | None, message: str) -> bool:
    """Put a refusal next to field ``name``; False when the form has no such field (the page
    then shows it above the form)."""
    if not name or name not in form._fields:
        return False
    field = form[name]
    field.errors = [*field.errors, message]
    return True


def mark_first_error(form) -> None:
    """The first field in error, in the page's order, takes the focus (``autofocus``)."""
    for field in form:
        if field.errors:
            field.flags.first_error = True
            return



class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmptyForm(FlaskForm):
    """A button-only POST form: just the CSRF token."""


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


class TotpForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(min=6, max=8)])


class ApplicantForm(FlaskForm):
    kind = SelectField("kind", choices=[("resident", "resident"), ("staff", "staff")])
    organization_teryt = SelectField("organization_teryt", choices=[])
    given_name = StringField("given_name", validators=[
        required("Podaj imię.", "Give the given name."), at_most(64)])
    surname = StringField("surname", validators=[
        required("Podaj nazwisko.", "Give the surname."), at_most(64)])
    pesel = StringField("pesel", validators=[Optional(), Length(
        min=11, max=11, message=lt("PESEL ma 11 cyfr.", "A PESEL has 11 digits."))])
    email = StringField("email", validators=[Optional(), at_most(254)])
    title = StringField("title", validators=[Optional(), at_most(64)])
    document_type = SelectField("document_type", default="", choices=[("", "-"), ("IDC", "IDC"),
                                                          ("PAS", "PAS")])
    document_number = StringField("document_number", validators=[Optional(), at_most(16)])
    revocation_password = PasswordField("revocation_password",
                                        validators=[Optional(), at_most(200)])
    # ticked after the page warned that this PESEL already has an enrolment
    confirm_duplicate = BooleanField("confirm_duplicate")


class CsrForm(FlaskForm):
    profile = SelectField("profile", choices=[])
    csr = FileField("csr", validators=[FileRequired(message=lt(
        "Wybierz plik z żądaniem CSR.", "Pick the CSR file."))])


class TokenForm(FlaskForm):
    profiles = MultiCheckboxField("profiles", choices=[], validators=[required(
        "Zaznacz co najmniej jeden profil.", "Tick at least one profile.")])
    initialise = BooleanField("initialise")
    token_label = StringField("token_label", validators=[
        required("Podaj etykietę tokenu.", "Give the token label."), at_most(32)])
    pin = PasswordField("pin", validators=[
        required("Podaj PIN tokenu.", "Give the token PIN."), at_most(64)])


class PickupForm(FlaskForm):
    code = StringField("code", validators=[
        required("Wpisz kod odbioru.", "Enter the pickup code."), at_most(32)])


class RevokeForm(FlaskForm):
    reason = SelectField("reason", choices=[], validators=[InputRequired(message=lt(
        "Wybierz powód unieważnienia.", "Pick the reason for revocation."))])


class ResidentRevokeForm(FlaskForm):
    password = PasswordField("password", validators=[required(
        "Podaj hasło do unieważnienia ustalone przy składaniu wniosku.",
        "Give the revocation password set when you applied."), at_most(200)])


class TokenActionForm(FlaskForm):
    """Report lost, destroyed or blocked: a button with its CSRF token."""


class UnblockForm(FlaskForm):
    so_pin = PasswordField("so_pin", validators=[
        required("Podaj PIN SO (PUK).", "Give the SO PIN (PUK)."), at_most(64)])
    new_pin = PasswordField("new_pin", validators=[
        required("Podaj nowy PIN.", "Give the new PIN."),
        Length(min=4, max=64, message=lt("PIN musi mieć od 4 do 64 znaków.",
                                         "The PIN must have 4 to 64 characters."))])


class ReplaceForm(FlaskForm):
    token_label = StringField("token_label", validators=[
        required("Podaj etykietę tokenu.", "Give the token label."), at_most(32)])
    pin = PasswordField("pin", validators=[
        required("Podaj PIN tokenu.", "Give the token PIN."), at_most(64)])


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    teryt = StringField("teryt", validators=[Optional(), Length(max=7)])
    officer = StringField("officer", validators=[Optional(), Length(max=64)])
    profile = SelectField("profile", choices=[], validators=[Optional()])
    action = SelectField("action", choices=[], validators=[Optional()])
    pesel = StringField("pesel", validators=[Optional(), Length(
        min=11, max=11, message=lt("PESEL ma 11 cyfr.", "A PESEL has 11 digits."))])
    since = DateField("since", validators=[Optional()])
    until = DateField("until", validators=[Optional()])
    submit = SubmitField("filter")


class OrganizationForm(FlaskForm):
    teryt = StringField("teryt", validators=[DataRequired(), Length(max=7)])
    name = StringField("name", validators=[DataRequired(), Length(max=200)])
    nip = StringField("nip", validators=[Optional(), Length(max=13)])
    regon = StringField("regon", validators=[Optional(), Length(max=14)])


class UserForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    role = SelectField("role", choices=[("officer", "officer"), ("auditor", "auditor"),
                                        ("administrator", "administrator")])
    organizations = MultiCheckboxField("organizations", choices=[])
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])
    repeat = PasswordField("repeat", validators=[DataRequired(), Length(max=200)])


class RoleForm(FlaskForm):
    """A staff member's role and JST; the choices are filled in by the view."""

    role = SelectField("role", choices=[("officer", "officer"), ("auditor", "auditor"),
                                        ("administrator", "administrator")])
    organizations = MultiCheckboxField("organizations", choices=[])


class ApiKeyForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(), Length(max=200)])
    scopes = MultiCheckboxField("scopes", choices=[], validators=[DataRequired()])
    organization = SelectField("organization", choices=[], default="")
