"""Texts the int8 model is checked against before a worker uses it.

A small fixed set, committed here so the check never reads user data or the network:
short queries, instructions, worked answers, code, JSON and lists, in the lengths that
generated samples have (a few words to past the model's 256-token window)."""

from __future__ import annotations

CALIBRATION_TEXTS: tuple[str, ...] = (
    "What is the capital of Australia?",
    "apples",
    "Translate 'Where is the train station?' into French.",
    "Write a haiku about autumn leaves falling on a quiet river.",
    "The customer says the refund never arrived. Draft a polite reply that apologises and asks for the order number.",
    "Classify the sentiment of this review as positive, negative or neutral: 'The battery lasts two days, "
    "but the screen scratches far too easily and support never answered my emails.'",
    "Summarise the following paragraph in one sentence. Photosynthesis is the process by which green plants "
    "and some other organisms use sunlight to synthesise foods from carbon dioxide and water. It generally "
    "involves the green pigment chlorophyll and generates oxygen as a by-product.",
    "Maria buys 3 notebooks at $4 each and 2 pens at $1.50 each. She pays with a $20 bill. How much change "
    "does she get?\nThe notebooks cost 3 * 4 = $12. The pens cost 2 * 1.50 = $3. In total she spends "
    "12 + 3 = $15. Her change is 20 - 15 = $5.\n#### 5",
    "A train leaves the station at 9:15 and travels at 80 km per hour. A second train leaves the same station "
    "at 10:00 on a parallel track at 100 km per hour. At what time does the second train catch up with the "
    "first?\nBy 10:00 the first train has travelled 0.75 hours * 80 = 60 km. The second train gains "
    "100 - 80 = 20 km every hour, so it needs 60 / 20 = 3 hours. It catches up at 13:00.\n#### 13:00",
    "def fibonacci(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    'Return a JSON object with the fields name, age and city for: "Ana is 34 and lives in Porto."\n'
    '{"name": "Ana", "age": 34, "city": "Porto"}',
    "Ingredients:\n- 200 g flour\n- 2 eggs\n- 300 ml milk\n- a pinch of salt\nWhisk the eggs and milk, "
    "fold in the flour and salt, rest the batter for 30 minutes, then cook thin pancakes in a hot pan.",
    "Explique en deux phrases pourquoi le ciel est bleu pendant la journée.",
    "SELECT customer_id, SUM(amount) AS total FROM orders WHERE created_at >= '2024-01-01' "
    "GROUP BY customer_id HAVING SUM(amount) > 1000 ORDER BY total DESC;",
    "Give three tips for staying focused while working from home.\n1. Keep a fixed start time and a "
    "separate place to work.\n2. Turn off notifications during blocks of deep work.\n3. Take a short walk "
    "at lunch so the afternoon does not blur into the morning.",
    "Write a short cover letter for a junior data analyst position. Dear hiring manager, I am writing to "
    "apply for the junior data analyst role advertised on your website. During my degree in statistics I "
    "cleaned and analysed survey data from more than ten thousand respondents, built dashboards that the "
    "student union still uses to plan its budget, and learned to explain uncertainty to people who do not "
    "work with numbers every day. In my internship at a logistics company I automated a weekly report that "
    "had taken two people a full day to assemble, and I found a recurring error in the way returns were "
    "counted, which changed how the warehouse planned its staff. I would welcome the chance to bring the "
    "same care to your team. Thank you for your time and consideration. Kind regards, Sam",
    "The history of the bicycle begins in the early nineteenth century with the draisine, a two-wheeled "
    "running machine without pedals that the rider pushed along with the feet. Pedals attached directly "
    "to the front wheel appeared in the 1860s, and the high-wheeler that followed made the front wheel as "
    "large as possible, because each turn of the pedals moved the machine one circumference forward. These "
    "machines were fast but dangerous: a rider sat high above the wheel and could be thrown over the "
    "handlebars by a stone in the road. The safety bicycle of the 1880s solved this with a chain drive to "
    "the rear wheel and two wheels of equal size, and the pneumatic tyre soon made the ride comfortable. "
    "Within a decade cycling had become a mass pastime, changing how people travelled to work, courted, "
    "and even dressed, and it prepared the roads, the factories and the mechanics that the motor car "
    "would later depend on. Today bicycles are again being promoted by cities as a clean and cheap way to "
    "move through crowded streets, and electric assistance has opened cycling to riders who would once "
    "have found the hills too steep or the distances too long for a daily commute.",
    "Jon runs a small bakery. On Monday he bakes 120 loaves and sells 85% of them. On Tuesday he bakes 20 "
    "more loaves than on Monday and sells 90% of them. Each loaf sells for $3.50 and costs him $1.20 to "
    "make. How much profit does he make over the two days, counting the cost of the loaves he did not "
    "sell?\nOn Monday he sells 120 * 0.85 = 102 loaves. On Tuesday he bakes 120 + 20 = 140 loaves and sells "
    "140 * 0.9 = 126. He sells 102 + 126 = 228 loaves for 228 * 3.50 = $798. He bakes 120 + 140 = 260 "
    "loaves at a cost of 260 * 1.20 = $312. His profit is 798 - 312 = $486.\n#### 486",
    "Error: connection refused while connecting to the database at 10.0.0.5:5432. Check that the server is "
    "running and accepts TCP connections, that the firewall allows the port, and that the credentials in "
    "the configuration file are correct before restarting the service.",
    "Is it safe to eat raw cookie dough? Raw dough may contain uncooked eggs and untreated flour, both of "
    "which can carry bacteria, so it is safer to use heat-treated flour and pasteurised eggs.",
)
