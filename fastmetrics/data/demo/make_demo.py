"""Writes demo_corpus.jsonl: short counselling-style conversations written for fastmetrics.

All text below was written for this project. Each conversation pairs a client concern with
supporter replies of varying quality, so the demo shows both converging and stalled
conversations. Outcomes (emotion intensity before/after, 1-5) follow the ESConv survey layout.
Run: python make_demo.py  (deterministic; seed 7).
"""
import json
import random
from pathlib import Path

TOPICS = {
    "work stress": [
        "I've been so stressed at work lately, my manager keeps piling on deadlines.",
        "I stay late every night and still feel behind on everything.",
        "Sometimes I can't sleep because I keep thinking about my inbox.",
    ],
    "breakup": [
        "My partner and I broke up last month and I still can't stop thinking about it.",
        "Everything in my apartment reminds me of them.",
        "I keep wondering whether I did something wrong.",
    ],
    "exam anxiety": [
        "My final exams start next week and I feel completely frozen.",
        "Every time I open my notes my heart starts racing.",
        "My parents expect top grades and I'm scared to let them down.",
    ],
    "loneliness": [
        "I moved to a new city and I don't really know anyone here.",
        "Weekends are the worst, I just stay in my room.",
        "I tried joining a club but I felt awkward the whole time.",
    ],
    "grief": [
        "My grandmother passed away two weeks ago.",
        "She was the person I talked to about everything.",
        "I feel guilty that I didn't visit her more often.",
    ],
    "job loss": [
        "I was laid off on Friday and I don't know what to do next.",
        "I'm worried about paying rent if I don't find something soon.",
        "I feel embarrassed telling my friends about it.",
    ],
}

GOOD = [
    "That sounds really exhausting. It makes sense that you feel {feeling} with all of that.",
    "It sounds like this has been weighing on you a lot. What has been the hardest part?",
    "I hear how much you care about getting this right. How are you taking care of yourself right now?",
    "You're not alone in feeling this way; many people go through something similar.",
    "Would it help to think together about one small step you could take this week?",
    "It took courage to talk about this. What would feel like a good outcome for you?",
]
POOR = [
    "You should just try to stop thinking about it.",
    "Have you tried going for a run? Exercise fixes most things.",
    "Everyone has problems, it's not a big deal.",
    "Just make a to-do list and you'll be fine.",
]
CLIENT_LATER_GOOD = [
    "Yes, that's exactly it. I think I just needed someone to listen.",
    "Maybe I could talk to someone I trust about it this weekend.",
    "Thank you, I feel a bit lighter already.",
]
CLIENT_LATER_POOR = [
    "I don't think that really helps.",
    "I already tried that and it didn't work.",
    "Okay. I guess.",
]
FEELINGS = {"work stress": "overwhelmed", "breakup": "heartbroken", "exam anxiety": "anxious",
            "loneliness": "lonely", "grief": "sad", "job loss": "worried"}


def main():
    rng = random.Random(7)
    out = []
    for i in range(36):
        topic = list(TOPICS)[i % len(TOPICS)]
        quality = rng.random()  # share of good supporter replies
        dialog = [{"speaker": "sys", "text": "Hi, thanks for reaching out. What's on your mind today?",
                   "strategy": "Question"}]
        good_count = 0
        lines = TOPICS[topic][:]
        rng.shuffle(lines)
        for line in lines:
            dialog.append({"speaker": "usr", "text": line})
            if rng.random() < quality:
                reply = rng.choice(GOOD).format(feeling=FEELINGS[topic])
                strat = ("Reflection of feelings" if "sounds" in reply or "hear" in reply
                         else "Affirmation and Reassurance")
                good_count += 1
            else:
                reply = rng.choice(POOR)
                strat = "Providing Suggestions"
            dialog.append({"speaker": "sys", "text": reply, "strategy": strat})
        later = CLIENT_LATER_GOOD if good_count >= 2 else CLIENT_LATER_POOR
        dialog.append({"speaker": "usr", "text": rng.choice(later)})
        dialog.append({"speaker": "sys", "text": "Thank you for sharing this with me. Take care of yourself.",
                       "strategy": "Others"})
        initial = rng.choice([3, 4, 5])
        final = max(1, min(5, initial - good_count + rng.choice([0, 1])))
        out.append({
            "conversation_id": f"demo-{i:02d}", "problem_type": topic,
            "emotion_type": FEELINGS[topic],
            "survey_score": {"seeker": {"initial_emotion_intensity": str(initial),
                                        "final_emotion_intensity": str(final),
                                        "empathy": str(min(5, 1 + good_count + rng.choice([0, 1]))),
                                        "relevance": str(min(5, 2 + good_count))}},
            "dialog": dialog,
        })
    path = Path(__file__).with_name("demo_corpus.jsonl")
    path.write_text("".join(json.dumps(o) + "\n" for o in out), encoding="utf-8")


if __name__ == "__main__":
    main()
