"""The pages' forms (Flask-WTF: each POST form carries its CSRF token).

Fields only say what shape a value has; whether a PESEL, TERYT or CSR is acceptable is decided
by the core, whose errors name the field and are shown next to it.
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
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

__all__ = ["LoginForm", "TotpForm", "ApplicantForm", "CsrForm", "TokenForm", "PickupForm",
           "RevokeForm", "ResidentRevokeForm", "AuditFilterForm", "OrganizationForm",
           "TokenActionForm", "UnblockForm", "ReplaceForm", "EmptyForm", "UserForm",
           "NewPasswordForm", "RoleForm", "ApiKeyForm"]


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
    given_name = StringField("given_name", validators=[DataRequired(), Length(max=64)])
    surname = StringField("surname", validators=[DataRequired(), Length(max=64)])
    pesel = StringField("pesel", validators=[Optional(), Length(max=11)])
    email = StringField("email", validators=[Optional(), Length(max=254)])
    title = StringField("title", validators=[Optional(), Length(max=64)])
    document_type = SelectField("document_type", default="", choices=[("", "-"), ("IDC", "IDC"),
                                                          ("PAS", "PAS")])
    document_number = StringField("document_number", validators=[Optional(), Length(max=16)])
    revocation_password = PasswordField("revocation_password",
                                        validators=[Optional(), Length(max=200)])


class CsrForm(FlaskForm):
    profile = SelectField("profile", choices=[])
    csr = FileField("csr", validators=[FileRequired()])


class TokenForm(FlaskForm):
    profiles = MultiCheckboxField("profiles", choices=[], validators=[DataRequired()])
    initialise = BooleanField("initialise")
    token_label = StringField("token_label", validators=[DataRequired(), Length(max=32)])
    pin = PasswordField("pin", validators=[DataRequired(), Length(max=64)])


class PickupForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(max=32)])


class RevokeForm(FlaskForm):
    reason = SelectField("reason", choices=[])


class ResidentRevokeForm(FlaskForm):
    password = PasswordField("password", validators=[DataRequired(), Length(max=200)])


class TokenActionForm(FlaskForm):
    """Report lost, destroyed or blocked: a button with its CSRF token."""


class UnblockForm(FlaskForm):
    so_pin = PasswordField("so_pin", validators=[DataRequired(), Length(max=64)])
    new_pin = PasswordField("new_pin", validators=[DataRequired(), Length(min=4, max=64)])


class ReplaceForm(FlaskForm):
    token_label = StringField("token_label", validators=[DataRequired(), Length(max=32)])
    pin = PasswordField("pin", validators=[DataRequired(), Length(max=64)])


class PeselSearchForm(FlaskForm):
    """Posted, not a GET: a PESEL never goes into a URL, a history or an access log."""

    pesel = StringField("pesel", validators=[DataRequired(), Length(max=11)])


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    teryt = StringField("teryt", validators=[Optional(), Length(max=7)])
    officer = StringField("officer", validators=[Optional(), Length(max=64)])
    profile = SelectField("profile", choices=[], validators=[Optional()])
    action = StringField("action", validators=[Optional(), Length(max=64)])
    pesel = StringField("pesel", validators=[Optional(), Length(max=11)])
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
