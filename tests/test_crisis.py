"""Crisis language: phrases that must mark a lead urgent, and figures of speech that must not."""

from __future__ import annotations

import pytest

from intake.crisis import mentions_crisis

URGENT = [
    "I have been having suicidal thoughts.",
    "Sometimes I think about suicide",
    "I want to kill myself",
    "i keep thinking about killing myself",
    "I just want to end it all",
    "Some days I want to die.",
    "I wish I was dead",
    "Everyone would be better off without me",
    "I don't want to live anymore",
    "I dont want to be alive",
    "I've been self-harming again",
    "I started cutting myself last month",
    "I'm scared I will hurt myself",
    "I thought about taking an overdose",
    "I can't go on like this",
    "I am planning to take my own life",
    "There is no reason to live",
    "I WANT TO DIE",
    "I don\u2019t want to wake up tomorrow",
    "kms honestly",
    "I dont see the point in living",
    "I have no will to live",
    "Life is not worth living",
    "I would rather be dead",
    "I wish I could go to sleep and never wake up",
    "I took too many pills on purpose",
    "I feel like I want to disappear forever",
]

NOT_URGENT = [
    "This pain is killing me",
    "My back is killing me every morning",
    "I nearly died laughing at the intake video",
    "I'm dying to know if insurance covers this",
    "My depression makes mornings hard",
    "I have PTSD from my deployment",
    "Chronic pain in my knees, would ketamine help?",
    "I watched Suicide Squad last night",
    "Can I drive home after the infusion?",
    "My anxiety is through the roof at work",
    "This job is murder",
    "I want to die of embarrassment when I talk about it",
    "dying from boredom at work",
    "I see the point in living again since therapy",
    "I can't wait for the appointment",
    "",
]


@pytest.mark.parametrize("message", URGENT)
def test_crisis_phrases_are_caught(message):
    assert mentions_crisis(message), message


@pytest.mark.parametrize("message", NOT_URGENT)
def test_figures_of_speech_are_not_alarms(message):
    assert not mentions_crisis(message), message


def test_crisis_words_inside_a_long_message():
    long = ("I have had depression for years. " * 40) + "Lately I feel like I want to die. " + ("Thanks. " * 20)
    assert mentions_crisis(long)
