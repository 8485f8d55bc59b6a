"""Text templates that render a conversation turn by turn, for transcripts and ``render()``.

The environment itself works on enums (:class:`Move`, :class:`Tone`, :class:`Reaction`);
this module only turns them into readable lines. All wording is written for this project
in the spirit of the customer-service guides it models: the agent paraphrases the
complaint when listening, says "I understand that you are frustrated", apologizes with
"I apologize for ..." rather than the overused "I'm sorry", offers an exchange, a refund
or a discount and lets the customer choose, states limits firmly and politely, and
follows up to check that the solution worked.

The story is always the same: a replacement part that was promised for Tuesday arrived
late and broken, and the customer is on the phone about it.

Nothing here draws random numbers. Callers pass a deterministic ``wording`` (for example
the turn index), and the line is picked as ``templates[wording % len(templates)]``, so
rendering never touches the environment's random stream.

Customer templates mark emphasised words as ``*word*``; the tone decides how they are
rendered (capitals when hostile, plain otherwise), together with an opening interjection
and the punctuation (measured full stops when calm, exclamation marks when angry or
hostile).
"""

from __future__ import annotations

import re

from difficult_customer.customer_models.vocabulary import Move, Reaction, Tone

Lines = tuple[str, ...]

AGENT_LINES: dict[Move, Lines] = {
    Move.listen: (
        "So if I understand you correctly, the replacement part we promised for Tuesday arrived late, "
        "and it was damaged when you opened the box. Please go on; I am listening.",
        "Let me make sure I have this right: you waited past the promised date, and when the part "
        "finally came it was broken. Can you tell me more about what happened?",
        "You were told Tuesday, you planned around Tuesday, and the part came late and cracked. "
        "Take your time and tell me the rest.",
    ),
    Move.empathize: (
        "I understand that you are frustrated. You planned around that delivery, and it let you down.",
        "I can understand that you are frustrated; I don't like it either when I'm kept waiting.",
        "That is genuinely frustrating, especially after you were given a firm date. "
        "Anyone would be upset in your place.",
    ),
    Move.apologize: (
        "I apologize for the late delivery and the damaged part. It is not the service we promised.",
        "I apologize for not having sent the part on time, and for the trouble it has caused you.",
        "I apologize for the inconvenience; you should have had a working part on Tuesday.",
    ),
    Move.offer_options: (
        "Here is what I can do, and the choice is yours: we send a new part by express courier at no cost, "
        "we refund the full price, or we take 30 percent off this order. Which would you prefer?",
        "I can offer you three options: an exchange for a new part, shipped today; a full refund; "
        "or a 30 percent discount on this order. Which works best for you?",
        "Let's fix this. I can send a replacement by express, refund you in full, "
        "or give you a discount on this order. It is your choice.",
    ),
    Move.set_boundary: (
        "I want to resolve this for you, and I will. I do need us to keep this conversation respectful; "
        "if the insults continue, I will have to end the call.",
        "I am here to help you, but I can't accept being spoken to that way. "
        "Let's keep it respectful so we can fix the problem together.",
        "Let me be clear about what I can and cannot do. I cannot change what already happened, "
        "but I can put it right, as long as we keep this conversation respectful.",
    ),
    Move.follow_up: (
        "Before we finish, I want to check: does this solution work for you? Is there anything else?",
        "I will call you on Friday to make sure the new part arrived and works. "
        "Is there anything else I can help with today?",
        "Just to follow up: are you satisfied with how we resolved this? Your feedback helps us do better.",
    ),
}
"""The agent's lines for each move, at least three per move."""

GENUINE_GRIEVANCE_LINES: dict[Reaction, Lines] = {
    Reaction.complains: (
        "I was promised the replacement part for *Tuesday*. It came a week late, and when I opened the box "
        "it was cracked. I took a day off work to wait for that delivery.",
        "I have called twice about the replacement part that was promised for Tuesday. It finally arrived "
        "yesterday, and it is *broken*. My machine has been useless for ten days.",
        "You promised me the replacement part by Tuesday. It turned up a week late, in pieces, "
        "and *nobody* told me it was delayed.",
    ),
    Reaction.softens: (
        "Thank you. That is exactly what happened, and it helps to hear someone say it.",
        "Okay. I appreciate that. I just want this sorted out.",
        "Alright, that helps. I am not trying to be difficult; I was *really* counting on that part.",
    ),
    Reaction.unmoved: (
        "That is nice to hear, but I still do not have a working part.",
        "I know you are trying to help, but my machine is still *broken*.",
        "Fine, but what are you actually going to do about it?",
    ),
    Reaction.irritated: (
        "Please do not read me a script. I have explained this *twice* already.",
        "I do not need to be handled. I need the part I paid for.",
        "With respect, that is not helping. We are going in *circles*.",
    ),
    Reaction.insults: (
        "Are you even listening? It is like talking to a *wall* that reads from a script.",
        "Honestly, a trained parrot would handle this better than you. The part came late and *broken*.",
        "Do you have any idea what you are doing? Because it *really* does not sound like it.",
    ),
    Reaction.rejects_offer: (
        "No. After two missed promises, why should I believe the *next* one?",
        "That is not good enough. I have waited long enough already.",
        "I do not want a discount on something that does not *work*.",
    ),
    Reaction.accepts_offer: (
        "Alright. Send me a new part by express, and please make sure it is packed properly this time.",
        "I will take the full refund, thank you. I can get the part locally.",
        "The discount works for me. Thank you for letting me choose.",
    ),
    Reaction.threatens_to_leave: (
        "I have been your customer for six years. Fix this today, or I take my business *elsewhere*.",
        "I am running out of patience. One more excuse and I will close my account.",
    ),
    Reaction.thanks: (
        "Yes, that works for me. Thank you for checking; it makes a real difference.",
        "Thank you for following up. That is more than I expected after all this.",
    ),
    Reaction.says_goodbye: (
        "Alright, that is settled then. Goodbye.",
        "Fine. I will look out for it. Goodbye.",
    ),
    Reaction.walks_away: (
        "I have had *enough*. I will buy the part somewhere else. Goodbye.",
        "This is going nowhere. I am done with this company.",
    ),
    Reaction.dialogue_ended: (
        "This whole company is *useless*, and so are you. Don't bother calling me back.",
        "Oh, so now *I* am the problem? Keep your damn part.",
    ),
}
"""A customer who was let down: specific, tired, fair once heard (guide 004)."""

NATURALLY_DIFFICULT_LINES: dict[Reaction, Lines] = {
    Reaction.complains: (
        "Well, here we go *again*. The replacement part was supposed to be here Tuesday. It came late, "
        "the box was dented and the part is cracked. Typical.",
        "I want to know why I have to chase *you* for a part I already paid for. Late, broken, "
        "and nobody had the courtesy to call.",
        "Before you start, I don't want to hear about couriers. The part was promised for Tuesday, "
        "it came late, and it is *broken*.",
    ),
    Reaction.softens: (
        "Hm. Well, at least somebody there understands the problem.",
        "Fine. That's more sense than I got from the last person.",
        "Okay. I suppose that's *something*.",
    ),
    Reaction.unmoved: (
        "Words. I've heard words before. Where is my *part*?",
        "And? That doesn't change anything, does it?",
        "That's what the last person said too.",
    ),
    Reaction.irritated: (
        "Don't tell me how I feel. You have *no* idea how I feel.",
        "Oh, spare me. That's straight out of a training manual.",
        "I didn't ask for a speech, I asked for a *part*.",
    ),
    Reaction.insults: (
        "Do they hire you for your ignorance, or is it a *natural* talent?",
        "I've met houseplants more helpful than you.",
        "You clearly have no idea what you're doing. Put someone *competent* on.",
    ),
    Reaction.rejects_offer: (
        "A discount? On a part that doesn't work? That's *insulting*.",
        "No. None of those. You expect me to wait another week for your courier?",
        "Those are your options? I could have thought of those *myself*.",
    ),
    Reaction.accepts_offer: (
        "Fine, I'll take the refund. But I'm not happy about it.",
        "I suppose the express replacement will do. It had *better* arrive this time.",
        "Alright, the discount. Don't think this makes us even.",
    ),
    Reaction.threatens_to_leave: (
        "I'm this close to cancelling everything and writing a review *everyone* will read.",
        "Keep this up and you've lost a customer. I mean it.",
    ),
    Reaction.thanks: (
        "Well. That's the first thing that's gone right. Thank you, I suppose.",
        "Fine, it's sorted. I'll admit you handled it better than the last one.",
    ),
    Reaction.says_goodbye: (
        "Right. We're done here. Goodbye.",
        "Fine. Goodbye. Don't make me call *again*.",
    ),
    Reaction.walks_away: (
        "Forget it. I'll tell everyone I know how *useless* this company is.",
        "I'm done wasting my time. Goodbye.",
    ),
    Reaction.dialogue_ended: (
        "You're a joke, and this whole company is a *joke*.",
        "Don't you dare put me on hold again, you useless little clerk.",
    ),
}
"""A customer who is difficult by nature: contrary, grudging, hard to please (guide 004)."""

BELLIGERENT_LINES: dict[Reaction, Lines] = {
    Reaction.complains: (
        "Where is my *part*? You promised it for Tuesday, it showed up a week late and smashed to bits. "
        "I want answers *now*.",
        "I want your manager. The part you promised for Tuesday arrived late and *broken*, "
        "and I'm not wasting my time on a nobody.",
        "Does anyone there know how to ship a box? Late *and* broken. Get me someone who can fix this.",
    ),
    Reaction.softens: (
        "Fine. Finally someone is saying something sensible.",
        "Alright. Keep talking. That's more like it.",
    ),
    Reaction.unmoved: (
        "Save it. I want my part, not a *speech*.",
        "That's it? That's all you've got?",
    ),
    Reaction.irritated: (
        "Don't you lecture *me*. I'm the customer here.",
        "Oh, now you're patronizing me? Brilliant. Just *brilliant*.",
        "Stop wasting my time with that *nonsense*.",
    ),
    Reaction.insults: (
        "You're *useless*. Did you get this job by accident? The part came late and *broken*.",
        "Listen, you clown, I don't want your excuses. I want the part I *paid* for.",
        "What a joke of a company. And *you* are the worst part of it.",
    ),
    Reaction.rejects_offer: (
        "That's your offer? Pathetic. Try *again*.",
        "No! I don't want your cheap discount. I want this *fixed*.",
    ),
    Reaction.accepts_offer: (
        "Fine. Send the new part express. And it had *better* not be broken.",
        "Refund. All of it. *Today*.",
        "Alright, I'll take the discount. Don't expect a thank-you card.",
    ),
    Reaction.threatens_to_leave: (
        "I'm about to hang up and cancel *everything*, and then I'm posting this everywhere.",
        "Last chance. Fix it, or I walk, and I take my friends' business with me.",
    ),
    Reaction.thanks: (
        "Well. Alright. Thanks for checking, I guess.",
        "Huh, I didn't expect a follow-up. Thanks.",
    ),
    Reaction.says_goodbye: (
        "Fine. Done. Bye.",
        "That's sorted then. Goodbye.",
    ),
    Reaction.walks_away: (
        "I'm done with this circus. Don't call me.",
        "Forget it! I'll take my money somewhere they know what they're *doing*.",
    ),
    Reaction.dialogue_ended: (
        "You can't handle a real customer, can you? Useless, the whole *lot* of you.",
        "Go on, run and hide, you damn *coward*.",
    ),
}
"""A customer who is abusive from the start and yields only to a boundary (guides 000, 002)."""

REASONABLE_LINES: dict[Reaction, Lines] = {
    Reaction.complains: (
        "Hi. The replacement part I ordered was supposed to arrive on Tuesday, but it came a few days late "
        "and one of the clips is *cracked*. Could you help me sort it out?",
        "Hello, I'm calling about the replacement part that was promised for Tuesday. It arrived late, "
        "and unfortunately it's *damaged*.",
    ),
    Reaction.softens: (
        "Thanks, that's right. I appreciate you taking the time.",
        "Okay, great. I'm glad we're on the same page.",
    ),
    Reaction.unmoved: (
        "Okay. So what happens *next*?",
        "Sure, but I still need a part that works.",
    ),
    Reaction.irritated: (
        "I'm being patient here, but that isn't really *helping*.",
        "Please, I'd rather we just focus on fixing it.",
    ),
    Reaction.insults: (
        "Honestly, this is amateur hour. Does anyone there know what they're *doing*?",
        "Can you put someone on who actually understands the problem? You clearly don't.",
    ),
    Reaction.rejects_offer: (
        "Hmm, I don't think that works for me. Is there anything *else*?",
        "Not really. I'd rather not wait another week.",
    ),
    Reaction.accepts_offer: (
        "The express replacement sounds good. Let's do that.",
        "A refund is fine, thank you.",
        "I'll take the discount, that's fair.",
    ),
    Reaction.threatens_to_leave: (
        "I'd like to get this fixed today, otherwise I'll have to look at *other* suppliers.",
        "I don't want to, but if this drags on I'll take my business elsewhere.",
    ),
    Reaction.thanks: (
        "Yes, that's all I needed. Thanks for checking, I appreciate it.",
        "Thank you for following up. Have a good day.",
    ),
    Reaction.says_goodbye: (
        "Great, thanks. Bye.",
        "Perfect. Goodbye.",
    ),
    Reaction.walks_away: (
        "I think I'll just buy the part *elsewhere*. Goodbye.",
        "This isn't going anywhere. I'll sort it out another way.",
    ),
    Reaction.dialogue_ended: (
        "Fine, whatever. You've been no help at *all*.",
        "Unbelievable. I give up on this whole company.",
    ),
}
"""A mildly annoyed, fair customer: polite, brief, easy to satisfy."""

GENERIC_LINES: dict[Reaction, Lines] = {
    Reaction.complains: (
        "The replacement part you promised for Tuesday arrived late and *broken*. I want this fixed.",
        "I'm calling about my order. The part came late, and it's *damaged*.",
    ),
    Reaction.softens: (
        "Okay. Thank you, that helps.",
        "Alright. I appreciate that.",
    ),
    Reaction.unmoved: (
        "That doesn't really change *anything*.",
        "Okay, but my part is still broken.",
    ),
    Reaction.irritated: (
        "That's not *helpful*.",
        "Please stop. That's making it worse.",
    ),
    Reaction.insults: (
        "You're completely *useless*, you know that? The part came late and broken.",
        "Is there anyone *competent* I can talk to?",
    ),
    Reaction.rejects_offer: (
        "No, that doesn't work for me.",
        "I don't want *any* of those.",
    ),
    Reaction.accepts_offer: (
        "Alright, I'll take the replacement.",
        "The refund, please.",
    ),
    Reaction.threatens_to_leave: (
        "If this isn't fixed soon, I'm *leaving*.",
        "I'm about ready to cancel my order.",
    ),
    Reaction.thanks: (
        "Thank you for checking. It's all sorted.",
        "Thanks for following up.",
    ),
    Reaction.says_goodbye: (
        "Okay. Goodbye.",
        "That's settled. Bye.",
    ),
    Reaction.walks_away: (
        "Forget it. I'm going *elsewhere*.",
        "I've had enough. Goodbye.",
    ),
    Reaction.dialogue_ended: (
        "Whatever. You're *useless* anyway.",
        "This company is a *joke*.",
    ),
}
"""The fallback voice for any persona without its own lines (e.g. custom personas)."""

CUSTOMER_LINES: dict[str, dict[Reaction, Lines]] = {
    "genuine_grievance": GENUINE_GRIEVANCE_LINES,
    "naturally_difficult": NATURALLY_DIFFICULT_LINES,
    "belligerent": BELLIGERENT_LINES,
    "reasonable": REASONABLE_LINES,
}
"""Customer voices by persona name; other names use :data:`GENERIC_LINES`."""

POSITIVE_REACTIONS: frozenset[Reaction] = frozenset(
    {Reaction.softens, Reaction.accepts_offer, Reaction.thanks, Reaction.says_goodbye}
)
"""Reactions that open with a grudging rather than a combative interjection."""

TONE_OPENERS: dict[tuple[Tone, bool], Lines] = {
    (Tone.calm, False): ("",),
    (Tone.calm, True): ("",),
    (Tone.tense, False): ("Right.", "Honestly.", "Okay, look.", "Well."),
    (Tone.tense, True): ("Okay.", "Well.", "Right.", "Hm. Alright."),
    (Tone.angry, False): ("Oh, come on!", "Unbelievable!", "Seriously?", "You know what?"),
    (Tone.angry, True): ("Fine.", "Well, finally.", "Alright, alright.", "About time."),
    (Tone.hostile, False): ("ENOUGH!", "ARE YOU KIDDING ME?", "UNBELIEVABLE!", "LISTEN TO ME!"),
    (Tone.hostile, True): ("FINE!", "FINALLY!", "ABOUT TIME!", "WELL, WELL!"),
}
"""Interjections that open a customer line, by (tone, reaction is positive)."""

NARRATOR_LINES: dict[Reaction, str] = {
    Reaction.thanks: "[The customer ends the call, satisfied with the solution and the follow-up.]",
    Reaction.says_goodbye: "[The customer ends the call; the problem is solved.]",
    Reaction.walks_away: "[The customer hangs up.]",
    Reaction.dialogue_ended: "[The agent ends the conversation after repeated abuse.]",
}
"""Stage directions for the closing reactions."""

_EMPHASIS = re.compile(r"\*([^*]+)\*")
_FULL_STOP = re.compile(r"(?<!\.)\.(?=\s|$)")


def _pick(lines: Lines, wording: int) -> str:
    return lines[int(wording) % len(lines)]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _opener(openers: Lines, wording: int, text: str) -> str:
    """Pick an opener from ``wording`` on, skipping any that would echo the line's first words."""
    start = _words(text)[:4]
    for i in range(len(openers)):
        opener = _pick(openers, wording + i)
        if not set(_words(opener)) & set(start):
            return opener
    return _pick(openers, wording)


def _apply_tone(text: str, tone: Tone) -> str:
    """Render ``*emphasis*`` and punctuation for a tone; the opener is added by the caller."""
    if tone == Tone.hostile:
        text = _EMPHASIS.sub(lambda m: m.group(1).upper(), text)
        text = _FULL_STOP.sub("!", text)
        return text + "!" if text.endswith(("!", "?")) else text
    text = _EMPHASIS.sub(r"\1", text)
    if tone == Tone.calm:
        return text.replace("?!", "?").replace("!", ".")
    if tone == Tone.angry and text.endswith("."):
        return text[:-1] + "!"
    return text


def agent_line(move: Move, wording: int) -> str:
    """Return the agent's line for a move.

    Args:
        move: The agent's move.
        wording: Any integer chosen deterministically by the caller (for example the turn
            index); the template is ``templates[wording % len(templates)]``.

    Returns:
        One sentence or a few, in the guides' wording.
    """
    return _pick(AGENT_LINES[Move(move)], wording)


def customer_line(persona: str, tone: Tone, reaction: Reaction, wording: int) -> str:
    """Return the customer's line for a reaction, in the persona's voice and the given tone.

    Args:
        persona: Persona name; names without their own voice (custom personas) use a
            generic voice.
        tone: How the customer sounds: calm is measured, tense opens curtly, angry adds
            exclamation marks, hostile shouts a few words in capitals.
        reaction: What the customer does; ``complains`` is the opening complaint.
        wording: Any integer chosen deterministically by the caller; it picks the template
            (``wording % len(templates)``) and then the tone's opening interjection.

    Returns:
        The customer's line, never empty.
    """
    tone = Tone(tone)
    reaction = Reaction(reaction)
    lines = CUSTOMER_LINES.get(persona, GENERIC_LINES)[reaction]
    wording = int(wording)
    text = _apply_tone(_pick(lines, wording), tone)
    opener = _opener(TONE_OPENERS[tone, reaction in POSITIVE_REACTIONS], wording // len(lines), text)
    return f"{opener} {text}" if opener else text


def narrator_line(reaction: Reaction) -> str | None:
    """Return a short stage direction for a closing reaction.

    Args:
        reaction: What the customer did on the last turn.

    Returns:
        A bracketed stage direction such as ``"[The customer hangs up.]"`` for the
        reactions that end the conversation (thanks, says_goodbye, walks_away,
        dialogue_ended), otherwise ``None``.
    """
    return NARRATOR_LINES.get(Reaction(reaction))


def turn_lines(
    episode: int,
    turn: int,
    hidden: dict[str, int | str],
    tone: Tone,
    reaction: Reaction,
    move: Move | None = None,
    render_hidden: bool = False,
    outcome: str | None = None,
    episode_return: float = 0.0,
) -> list[str]:
    """The transcript lines of one turn, as ``render_mode="ansi"`` shows them.

    Args:
        episode: conversation number (0 for the first since the env was built); with
            ``turn`` it picks the templates, so a transcript never draws random numbers.
        turn: turns taken, this one included.
        hidden: the hidden state after the turn (``Tables.hidden_state``).
        tone: the tone shown.
        reaction: the reaction shown.
        move: the agent's move, None for the opening.
        render_hidden: also show hidden anger, trust, heard, patience and abuse.
        outcome: the outcome name when the conversation ended at this turn.
        episode_return: the conversation's return, shown with the outcome.

    Returns:
        The header (opening) or the agent's line, the customer's line, and the hidden
        state, stage direction and outcome lines where they apply.
    """
    wording = episode * 7 + turn
    persona = str(hidden["persona"])
    if move is None:
        lines = [f"--- conversation {episode + 1} ({persona if render_hidden else 'persona hidden'}) ---"]
    else:
        lines = [f"[{turn:2d}] Agent ({Move(move).name}): {agent_line(move, wording)}"]
    reaction, tone = Reaction(reaction), Tone(tone)
    lines.append(f"     Customer [{tone.name}, {reaction.name}]: {customer_line(persona, tone, reaction, wording)}")
    if render_hidden:
        lines.append(
            f"     (hidden: anger {hidden['anger']}/4, trust {hidden['trust']}/3, heard {hidden['heard']}, "
            f"patience {hidden['patience']}, abuse {hidden['abuse']})"
        )
    stage = narrator_line(reaction)
    if stage:
        lines.append(f"     {stage}")
    if outcome is not None:
        lines.append(f"--- outcome: {outcome}, return {episode_return:+.2f} ---")
    return lines


def _check_lines() -> None:
    """Fail at import if a move, voice or reaction lacks its templates."""
    for move in Move:
        if len(AGENT_LINES.get(move, ())) < 3:
            raise ValueError(f"agent move {move.name!r} needs at least 3 templates")
    for name, voice in (*CUSTOMER_LINES.items(), ("generic", GENERIC_LINES)):
        for reaction in Reaction:
            if len(voice.get(reaction, ())) < 2:
                raise ValueError(f"voice {name!r}: reaction {reaction.name!r} needs at least 2 templates")
    for key in ((tone, positive) for tone in Tone for positive in (False, True)):
        if key not in TONE_OPENERS:
            raise ValueError(f"tone openers missing for {key!r}")


_check_lines()

__all__ = [
    "AGENT_LINES",
    "CUSTOMER_LINES",
    "GENERIC_LINES",
    "NARRATOR_LINES",
    "TONE_OPENERS",
    "agent_line",
    "customer_line",
    "narrator_line",
    "turn_lines",
]
