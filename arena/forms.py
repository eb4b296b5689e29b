"""The request bodies of the arena's endpoints, checked at the boundary (arena/views.py): a form post or
a JSON object with only these fields, each text (valid Unicode, no NUL character). What the values
mean (a prompt's length, a known contender, a vote's stage and choice) the services check."""

from django import forms


class BattleStartForm(forms.Form):
    prompt = forms.CharField(required=False, strip=False)
    contender_a = forms.CharField(required=False, strip=False)  # named battles: both picked
    contender_b = forms.CharField(required=False, strip=False)
    corpus = forms.CharField(required=False, strip=False)  # retrieval battles: the corpus searched


class VoteForm(forms.Form):
    stage = forms.CharField(required=False, strip=False)  # "blind" or "final"
    choice = forms.CharField(required=False, strip=False)  # "a", "b", "tie" or "bothbad"
