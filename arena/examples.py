"""Example prompts offered by the "random example" button: varied, short, answerable by small models."""

EXAMPLE_PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about a cup of coffee on a rainy morning.",
    "What are three tips for keeping houseplants alive?",
    "Give me a simple recipe for pancakes.",
    "Explain what a black hole is to a ten-year-old.",
    "Write a short, polite email declining a meeting invitation.",
    "What is the difference between weather and climate?",
    "Suggest five names for a friendly robot.",
    "How do I reverse a list in Python?",
    "Summarise the plot of Romeo and Juliet in three sentences.",
    "Why do cats purr?",
    "Write a limerick about a forgetful wizard.",
    "What should I pack for a weekend hiking trip?",
    "Explain photosynthesis in simple words.",
    "Give me three ideas for a rainy-day activity with kids.",
    "What is the capital of Australia, and why is it not Sydney?",
    "Describe the taste of a lemon to someone who has never had one.",
    "How can I save energy at home? List four ways.",
    "Write the opening line of a mystery novel.",
    "What is a prime number? Give three examples.",
]

# Queries for retrieval battles on the default corpus (Python's reference documentation).
RETRIEVAL_EXAMPLES = [
    "How do I catch several exceptions in one except clause?",
    "What does the with statement do?",
    "How are default argument values evaluated?",
    "What is the difference between is and ==?",
    "How does a for loop work with iterators?",
    "What does the yield keyword do?",
    "How are class attributes looked up?",
    "What are f-strings and how do I format numbers?",
    "When is a finally clause executed?",
    "How do I define an asynchronous function?",
]
