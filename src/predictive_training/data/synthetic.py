"""Seeded generator of simple children's stories: the study's offline default corpus.

The stories imitate the style of TinyStories (short, simple English, named characters,
a problem and its resolution, some dialogue) without downloading anything. They are
built from fifteen plot skeletons, each a sequence of story beats; every beat picks one
of several sentence variants, and every variant fills slots (characters, pronouns,
objects, places, feelings, food, animals, weather) from word lists. The mix is varied
enough that a small GPT keeps learning for thousands of steps and regular enough to be
learnable: the grammar is fixed, plots recur, and causes come before their effects.

Public API
----------
``generate_stories(seed, n_words) -> list[str]``
    Stories, one string each (a single line), whose whitespace-separated word count
    sums to at least ``n_words``. Deterministic in ``seed``; a longer request returns
    the shorter request's stories as a prefix.
``VOCABULARY: frozenset[str]``
    Every lowercase word the generator can emit (character names included), as produced
    by :func:`words_of`. Derived from the word lists and sentence templates at import,
    so it is exact rather than hand-maintained.
``CHARACTER_NAMES: frozenset[str]``
    The character names (capitalised as they appear in stories); a subset of the
    vocabulary once lowercased.
``words_of(text) -> list[str]``
    The tokenisation used for ``VOCABULARY``: lowercase, split on whitespace, strip
    punctuation from both ends of each word (inner apostrophes stay: "don't").

Randomness comes only from a ``random.Random(seed)`` instance passed down explicitly;
global random state is never touched.
"""

from __future__ import annotations

import random
import re
import string
from typing import Callable

__all__ = ["generate_stories", "VOCABULARY", "CHARACTER_NAMES", "words_of"]


def _split(text: str) -> tuple[str, ...]:
    """Split a literal word list: items separated by '|' or newlines, stripped."""
    return tuple(s.strip() for s in re.split(r"[|\n]", text) if s.strip())


# ---------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------

_GIRL_NAMES = tuple(
    """Lily Mia Sara Anna Emma Lucy Zoe Ella Amy Rose Kate Jane Molly Daisy Ruby Sophie
    Grace Chloe Ava Nora Ivy Lila Maya Hannah Julia Clara Alice Bella Stella Luna Hazel
    Violet Poppy Rosie Susie Tina Kim Jenny Lisa Mary Sally Nina Eva Leah Abby Ellie Katie
    Holly Dora Pam Mila Sue Fay Gina""".split()
)
_BOY_NAMES = tuple(
    """Tom Ben Max Sam Leo Jack Tim Finn Noah Jake Luke Adam Owen Eli Ryan Oscar Henry
    Theo Jim Bob Joe Dan Nick Mark Paul Peter Alex Charlie Billy Timmy Tommy Danny Freddy
    Johnny Bobby Kevin Lucas Ethan Mason Liam Jamie Toby Ollie Ned Ted Ray Roy Zack
    Carl Fred Jay Kai Milo Otto Ian Gus Hugo""".split()
)
# Pet-style names, used only for animal characters (either pronoun).
_PET_NAMES = tuple(
    """Spot Buddy Fluffy Coco Pip Rex Bella Sunny Patch Whiskers Mittens Ginger Pepper
    Snowy Bubbles Tiny Biscuit Cookie Honey Peanut Muffin Dot Fuzzy Rusty Shadow Sparky
    Bingo Lucky Oreo Toffee""".split()
)
CHARACTER_NAMES: frozenset[str] = frozenset(_GIRL_NAMES + _BOY_NAMES + _PET_NAMES)

# Animal kinds a character can be (named animals are "he"/"she", as in TinyStories).
_ANIMAL_KINDS = _split(
    "cat|dog|bunny|rabbit|bear|fox|mouse|duck|frog|bird|owl|puppy|kitten|pig|"
    "lamb|pony|deer|turtle|hedgehog|raccoon|monkey|lion|tiger|elephant|giraffe|penguin|"
    "chicken|goat|cow|horse|squirrel|mole|beaver|otter|koala|panda|zebra|kangaroo|goose"
)
_CHAR_ADJS = _split(
    "little|happy|kind|curious|brave|shy|funny|friendly|playful|smart|sweet|gentle|"
    "cheerful|careful|silly|quiet|busy|clever|sleepy|proud|polite|helpful|lively|small|"
    "cute|good|nice|bright|jolly|tiny|young|bold|strong|fast|merry|lucky|grumpy|lazy|"
    "noisy|calm|chatty"
)

_PRONOUNS = {
    "she": {"he": "she", "him": "her", "his": "her", "self": "herself"},
    "he": {"he": "he", "him": "him", "his": "his", "self": "himself"},
}

_PARENTS = {"mom": "she", "dad": "he", "grandma": "she", "grandpa": "he",
            "mommy": "she", "daddy": "he"}
# Grown-ups who are not family; "the" comes before them in stories.
_GROWNUPS = _split("farmer|teacher|baker|old man|old woman|neighbor|park keeper")

# ---------------------------------------------------------------------------
# Objects: noun, adjectives that fit it, what can happen to it, how one plays with it
# (past tense; "it" is the object), and a short use in a wish ("fly my kite").
# Tags: lose = can be lost, stuck = can fly or be thrown up high, share = a toy to share.
# ---------------------------------------------------------------------------

_OBJECTS = (
    ("ball", "red|blue|green|yellow|big|bouncy|shiny|new|striped|orange", "lose stuck share",
     "kicked it across the grass|bounced it up and down|threw it high in the air and caught it", "play ball"),
    ("kite", "red|blue|yellow|green|purple|big|colorful|new|striped", "stuck share",
     "ran fast so it could fly high in the sky|held the string and watched it dance in the wind",
     "fly my kite"),
    ("balloon", "red|blue|pink|yellow|green|purple|big|shiny", "stuck",
     "held its string tight and watched it bob in the wind|tapped it up into the air again and again",
     "play with my balloon"),
    ("hat", "red|blue|green|yellow|big|soft|new|funny|straw", "lose stuck",
     "put it on and danced around|tossed it up and caught it", "wear my hat"),
    ("teddy bear", "brown|soft|old|fluffy|little|big", "lose share",
     "hugged it tight|told it a story|danced around with it", "hug my teddy bear"),
    ("doll", "pretty|little|new|soft|old", "lose share",
     "brushed its hair|sang songs to it|gave it a ride in a wagon", "play with my doll"),
    ("toy car", "red|blue|green|yellow|fast|little|shiny|new", "lose share",
     "raced it along the ground|made it zoom up and down the path", "race my car"),
    ("toy truck", "red|blue|yellow|big|orange|green|old", "lose share",
     "filled it with sand and rocks|pushed it up and down the hill", "play with my truck"),
    ("toy boat", "red|blue|white|little|yellow|wooden", "lose share",
     "let it float on the water|pushed it across a big puddle", "sail my boat"),
    ("toy plane", "red|blue|white|silver|little|fast", "stuck share",
     "threw it and watched it fly|made it swoop and spin in the air", "fly my plane"),
    ("scarf", "red|blue|pink|purple|green|soft|warm|long|striped", "lose stuck",
     "wrapped it around {A_his} neck|waved it in the wind", "wear my scarf"),
    ("shell", "pink|white|shiny|pretty|little|big|smooth", "lose",
     "held it up to {A_his} ear to hear the sea|held it up to see it shine", "hold my shell"),
    ("ring", "shiny|gold|silver|pretty|little", "lose",
     "wore it on {A_his} finger|looked at it shine in the sun", "wear my ring"),
    ("necklace", "shiny|gold|silver|pretty|pink|blue", "lose",
     "put it on and spun around|held it up to the light", "wear my necklace"),
    ("book", "big|old|new|red|blue|little|funny", "lose share",
     "read it under a tree|looked at the pictures in it", "read my book"),
    ("blanket", "soft|warm|blue|pink|yellow|fluffy|old", "lose share",
     "wrapped it around {A_self}|made a fort with it", "use my blanket"),
    ("drum", "red|blue|big|little|loud|new", "share",
     "banged on it to make a loud noise|played a song on it", "play my drum"),
    ("robot", "silver|red|blue|little|shiny|new", "lose share",
     "made it walk and beep|made it dance on the table", "play with my robot"),
    ("puzzle", "big|new|hard|colorful", "share",
     "put the pieces together|worked on it all morning", "do my puzzle"),
    ("jump rope", "red|blue|pink|green|long|new", "share",
     "jumped over it many times|skipped with it on the path", "jump with my rope"),
    ("shovel", "red|blue|yellow|little|green|new", "lose share",
     "dug a big hole in the dirt|dug in the sand all day", "dig with my shovel"),
    ("bucket", "red|blue|yellow|green|little|pink", "lose share",
     "filled it with water|used it to carry rocks", "fill my bucket"),
    ("whistle", "shiny|silver|little|red|loud", "lose",
     "blew it as loud as {A_he} could|blew a happy tune on it", "blow my whistle"),
    ("toy train", "red|blue|green|little|long|wooden", "share",
     "pushed it around the track|made it go choo choo", "play with my train"),
    ("wand", "magic|shiny|pink|sparkly|little|gold", "lose share",
     "waved it and said magic words|pretended to do magic with it", "wave my wand"),
    ("crown", "shiny|gold|silver|pretty|little|sparkly", "lose share",
     "wore it and pretended to be a king|put it on and walked like a queen", "wear my crown"),
    ("umbrella", "red|yellow|blue|big|pink|green|striped", "lose stuck",
     "spun it round and round|held it up high", "hold my umbrella"),
    ("stuffed bunny", "soft|white|pink|gray|fluffy|little|old", "lose share",
     "hugged it tight|made it hop along the ground", "hug my bunny"),
    ("paper airplane", "white|blue|big|little|fast", "stuck share",
     "threw it and watched it glide|made it loop in the air", "fly my airplane"),
    ("bell", "little|shiny|gold|silver", "lose",
     "rang it with a happy ding|rang it to call {A_his} friends", "ring my bell"),
)

# ---------------------------------------------------------------------------
# Places: how to say "at/in it", things there where something can hide or be found,
# something high where a thrown thing gets stuck, sights to describe, and whether an
# animal character would go there.
# ---------------------------------------------------------------------------

_PLACES = {
    "park": ("at the park", "under the bench|behind the big tree|near the slide|in the tall grass|by the swings|under a bush",
             "the top of a tall tree|a high branch of the big oak tree|the roof of the little shed",
             "children playing on the swings|a dog chasing a ball|ducks swimming in the pond|tall trees with green leaves|people having a picnic|kids going down the slide",
             True),
    "garden": ("in the garden", "under a big leaf|behind the flower pots|between the carrots|near the fence|under the rose bush|in the pile of leaves",
               "the top of the apple tree|the roof of the house|the high fence",
               "red roses and yellow flowers|bees buzzing around the flowers|a snail on a leaf|big green plants|butterflies in the air|a little bird by the fence",
               True),
    "forest": ("in the forest", "under a log|behind a big rock|in a pile of leaves|near the old tree|by the little stream|under some ferns",
               "a high branch of a tall tree|the top of a pine tree",
               "tall trees everywhere|squirrels running up the trees|mushrooms on the ground|a deer drinking from a stream|birds singing in the trees|berries on the bushes",
               True),
    "beach": ("at the beach", "under the sand|behind a big rock|near the water|by the sand castle|under a towel|in a little pool of water",
              "the top of a tall pole|the roof of the little hut",
              "big waves in the sea|crabs walking on the sand|seagulls flying over the water|children building sand castles|shells on the sand|boats far away",
              True),
    "farm": ("on the farm", "in the hay|behind the barn|near the pig pen|under the wagon|by the water trough|in the chicken coop",
             "the roof of the barn|the top of the windmill|a high branch of the apple tree",
             "cows eating grass|pigs rolling in the mud|chickens pecking at seeds|a horse in the field|sheep with soft wool|a big red barn",
             True),
    "meadow": ("in the meadow", "in the tall grass|behind a big rock|under a bush|near the flowers|by the little stream|in a rabbit hole",
               "the top of a tall tree|a high branch of the old tree",
               "flowers of every color|butterflies dancing in the air|rabbits hopping in the grass|bees buzzing|a soft breeze moving the grass",
               True),
    "backyard": ("in the backyard", "under the porch|behind the shed|in the sandbox|near the fence|under the swing|in the flower bed",
                 "the roof of the house|the top of the tall tree|the high fence",
                 "a swing on a tree|a dog digging a hole|birds at the bird feeder|green grass and flowers|a little sandbox",
                 True),
    "playground": ("at the playground", "under the slide|in the sandbox|behind the swings|near the climbing frame|under a bench|by the gate",
                   "the top of the climbing frame|the roof of the playhouse|a high branch of the tree by the gate",
                   "kids on the swings|a big red slide|children playing tag|a sandbox full of toys|a seesaw going up and down",
                   False),
    "pond": ("by the pond", "in the reeds|under a lily pad|behind a big rock|near the water|in the mud|under the little bridge",
             "a high branch of the willow tree|the top of the little bridge",
             "ducks swimming|frogs on lily pads|fish in the water|dragonflies over the water|a turtle on a rock",
             True),
    "hill": ("on the hill", "behind a big rock|in the tall grass|under a bush|near the old fence|by the path",
             "the top of the only tree|a high branch of the big tree",
             "the whole town far below|clouds floating by|sheep eating grass|flowers on the green grass|birds flying in the wind",
             True),
    "school": ("at school", "under a desk|behind the bookshelf|in the toy box|near the door|by the window|under the coat rack",
               "",  # nothing is thrown up high indoors (see _INDOOR)
               "children reading books|paintings on the walls|a fish tank in the corner|a teacher writing on the board|toys on the shelves",
               False),
    "zoo": ("at the zoo", "under a bench|behind the big map sign|near the gate|by the ice cream cart|in the grass",
            "the top of the giraffe house|a high branch near the monkeys",
            "lions sleeping in the sun|monkeys swinging in the trees|a tall giraffe eating leaves|a big elephant spraying water|penguins jumping into the water",
            False),
    "river": ("by the river", "under a rock|in the tall reeds|behind a log|near the water|by the old bridge",
              "a high branch of the tree by the water|the top of the old bridge",
              "fish jumping out of the water|a boat going by|ducks swimming along|frogs on the rocks|water running fast over the stones",
              True),
    "library": ("at the library", "under a table|behind a shelf|near the big chair|by the window|under a pile of books",
                "",
                "rows and rows of books|people reading quietly|a big soft rug|a cozy corner with pillows",
                False),
    "woods": ("in the woods", "under a log|behind a tree|in a pile of leaves|near a big rock|under a bush",
              "a high branch of an old tree|the top of a tall pine tree",
              "tall trees|a little path|squirrels and birds|green moss on the rocks|a rabbit hiding in the bushes",
              True),
    "field": ("in the field", "in the tall grass|behind a hay bale|under a bush|near the fence|by the gate",
              "the top of a tall tree|the roof of the old barn",
              "golden wheat moving in the wind|cows far away|flowers along the fence|a tractor in the distance|birds flying over the grass",
              True),
}

# ---------------------------------------------------------------------------
# Free slots: each {key} below that is not a fixed story slot is filled by a fresh
# random choice every time it appears (values may themselves contain slots).
# ---------------------------------------------------------------------------

_POOLS: dict[str, tuple[str, ...]] = {
    "happy": _split("happy|glad|excited|very happy|so happy|happy and proud|full of joy"),
    "sad": _split("sad|upset|very sad|so sad|unhappy|sad and worried"),
    "scared": _split("scared|afraid|frightened|very scared|a little scared|nervous"),
    "angry": _split("angry|mad|cross|grumpy"),
    "big": _split("big|huge|large|giant"),
    "suddenly": _split("Suddenly|All of a sudden|Just then|Then"),
    "one_day": _split("One day|One sunny day|One morning|One afternoon|One bright morning|One warm day|One day in the spring|One summer day"),
    "later": _split("After a while|Soon|A little later|Later that day|Before long"),
    "finally": _split("Finally|At last|In the end"),
    "smiled": _split("smiled|smiled a big smile|laughed|grinned|clapped {A_his} hands"),
    "hug": _split("a big hug|a hug|a warm hug|a tight hug"),
    "cried": _split("cried|said|sobbed|said in a sad voice"),
    "shouted": _split("shouted|cried|yelled|called"),
    "color": _split("red|blue|green|yellow|pink|purple|orange|white|brown|gray|gold|silver|black"),
    "weather": _split(
        "The sun was shining and the sky was blue.|It was a warm and sunny day.|"
        "A soft wind was blowing.|There were big white clouds in the sky.|"
        "The air was fresh and cool.|It was a bright and happy day.|"
        "The birds were singing in the trees.|The sun was warm on {A_his} face.|"
        "It was the first nice day of spring.|The grass was still wet from the rain.|"
        "The leaves were red, orange, and brown.|"
        "It was a chilly morning, and {A} could see {A_his} breath.|The sky was pink and orange.|"
        "Little flowers were popping up everywhere.|It was hot, so {A} wore a sun hat.|"
        "There was a rainbow over the hills.|Fluffy clouds drifted across the sky."),
    "snack": _split(
        "an apple|a banana|some cookies|a piece of cake|a sandwich|some grapes|a cupcake|"
        "some cheese and bread|a bowl of berries|a slice of pizza|some carrots|a muffin|"
        "a cup of milk|a glass of juice|some popcorn|a peach|a pear|some strawberries|"
        "an orange|a big pancake|a cheese sandwich|some crackers|a bowl of soup|"
        "a piece of pie|some warm bread with jam|a bowl of cherries|a slice of watermelon|"
        "an ice cream cone|a cookie with chocolate chips|some toast with honey|a boiled egg|"
        "a bowl of rice|some noodles|a lemon cake|a cup of hot cocoa|a plum|some nuts"),
    "dinner": _split(
        "soup and bread|pasta with tomato sauce|rice and beans|fish and potatoes|"
        "chicken and peas|a big pie|pancakes with syrup|noodles and carrots|"
        "pizza with cheese|eggs and toast|a warm stew|corn and potatoes"),
    "sight_animal": _split(
        "a bird singing in a tree|a frog jumping into the water|a squirrel running up a tree|"
        "a butterfly flying over the flowers|two ducks swimming together|a bee buzzing around a flower|"
        "a snail moving slowly on a leaf|a dog chasing its tail|a cat sleeping in the sun|"
        "a rabbit eating some grass|a ladybug on a leaf|an ant carrying a crumb|"
        "a worm wiggling in the dirt|a spider making a web|a mother bird feeding her babies|"
        "a little mouse running into a hole|a horse eating hay|a goat climbing a rock|"
        "a fish jumping out of the water|a cow saying moo|an owl sitting on a branch|"
        "a busy beaver carrying a stick|a hedgehog rolling into a ball|a crow looking for food|"
        "a puppy playing with a stick|a kitten chasing a leaf|a deer eating leaves|"
        "a turtle resting on a rock|a lamb jumping in the grass|a goose flapping its wings|"
        "a fox sneaking through the grass|a bluebird on a fence|a mole poking its nose out of the ground|"
        "a moth near a lamp|a beetle climbing a stem|a robin pulling a worm|a chipmunk with full cheeks|"
        "a pony eating an apple|a swan gliding on the water|a dragonfly zooming by|"
        "a grasshopper jumping high|a caterpillar eating a leaf"),
    "sound": _split(
        "birds singing|the wind in the trees|a dog barking far away|bees buzzing|"
        "children laughing|the bell of an ice cream truck|a frog croaking|leaves rustling|"
        "a rooster crowing|water splashing|a woodpecker tapping on a tree"),
    "play_game": _split(
        "played tag|played hide and seek|played catch|ran races|built a tower of blocks|"
        "drew pictures with chalk|jumped in the puddles|played pretend|sang songs|"
        "danced to music|built a sand castle|rolled down the hill|played a game of ball|"
        "looked for bugs|made a fort out of sticks|blew bubbles|flew paper planes|"
        "played house|had a tea party|looked at the clouds|picked flowers|counted the birds|"
        "climbed on the big rocks|played on the swings|went down the slide|"
        "played leapfrog|made a daisy chain|raced paper boats in a puddle|played follow the leader|"
        "chased bubbles|made a big pile of leaves|played hopscotch|made mud pies|"
        "whistled funny tunes|played pirates|pretended to be lions|told jokes"),
    "like_act": _split(
        "play with blocks|draw pictures|sing songs|run in the grass|read books|jump in puddles|"
        "look at the stars|dance to music|help {A_his} mom in the kitchen|climb trees|"
        "play outside|pick flowers|swing on the swing|play with {A_his} friends|paint|"
        "watch the birds|build things|dig in the dirt|make up stories|play hide and seek|"
        "ride {A_his} bike|splash in the water|count the clouds|bake cookies|look for shells|"
        "chase butterflies|play games|learn new things|listen to stories|eat yummy food|"
        "collect pretty rocks|fly paper planes|play the piano|make things out of clay|"
        "feed the ducks|hum little songs|count the stars|play dress up|visit {A_his} grandma|"
        "jump on the bed|roll in the leaves|pretend to be a pirate|watch the rain|"
        "skip down the street|talk to the flowers|do puzzles|play music on pots and pans"),
    "home": _split(
        "in a small house near the woods|in a little house with a red door|on a big farm|"
        "in a busy town|in a cozy house by the sea|in a tall house on a hill|"
        "in a quiet village|in a yellow house with a big garden|near a big park|"
        "in a little house by a river|in a warm and happy home|in a small town by the lake|"
        "in a blue house at the end of the street|in an apartment in a big city|"
        "in a little cottage in the mountains|next to a bakery"),
    "home_animal": _split(
        "in a hole under a big tree|in a cozy nest|in the green forest|near a quiet pond|"
        "on a big farm|in a little den|in a meadow full of flowers|by a sparkling river|"
        "in a warm burrow|at the edge of the woods"),
}

# ---------------------------------------------------------------------------
# Templates, grouped by story beat. Fixed slots (set per story):
#   A, A_he, A_him, A_his, A_self, A_He, A_His, A_a (e.g. "a curious girl"), A_kind
#   B, B_he, ... the friend; P, P_he, P_him, P_his, P_He, P_Cap the parent ("mom", "Mom")
#   O (object noun), O_adj, O_a ("a red ball"), O_play (how A plays with it), O_wish
#   L (place noun), L_at ("at the park"), L_the, L_The, H1/H2/H3 hiding spots, HIGH
#   sight1/sight2 (things to see at L)
# ---------------------------------------------------------------------------

_T: dict[str, tuple[str, ...]] = {}


def _t(name: str, *variants: str) -> None:
    _T[name] = variants


# ---- openings and character setup (shared by all plots) ----
_t("open",
   "Once upon a time, there was {A_a} named {A}.",
   "Once upon a time, there was {A_a} named {A}. {A_He} lived {home}.",
   "There once was {A_a} named {A}.",
   "{A} was {A_a} who lived {home}.",
   "Once there was {A_a}. {A_His} name was {A}.",
   "In a land far away, there lived {A_a} named {A}.",
   "Not long ago, there was {A_a} called {A}.")
_t("open_animal",
   "Once upon a time, there was {A_a} named {A}. {A_He} lived {home_animal}.",
   "There once was {A_a} named {A} who lived {home_animal}.",
   "{A} was {A_a} who lived {home_animal}.",
   "Once upon a time, {home_animal}, there lived {A_a} named {A}.",
   "Once there was {A_a} called {A}.")
_t("trait",
   "{A_He} loved to {like_act}.",
   "{A_He} liked to {like_act} every day.",
   "{A_His} favorite thing to do was to {like_act}.",
   "More than anything, {A} loved to {like_act}.",
   "Every day, {A} would {like_act}.",
   "{A} liked to {like_act} and {like_act}.")
_t("has_obj",
   "{A_He} had {O_a} that {A_he} loved very much.",
   "{A_His} most special thing was {O_a}.",
   "{A} had {O_a}. It was {A_his} favorite thing in the world.",
   "{A_His} {P} had given {A_him} {O_a}, and {A_he} loved it.",
   "{A} always had {A_his} {O_adj} {O} with {A_him}.")
_t("friend_intro",
   "{A} had a friend named {B}.",
   "{A_His} best friend was {B_a} named {B}.",
   "{A} had a good friend, {B_a} called {B}.",
   "{B} was {A_his} best friend.")
_t("go_place",
   "{one_day}, {A} went to play {L_at}.",
   "{one_day}, {A} and {A_his} {P} went to {L_the}.",
   "{one_day}, {A} took {A_his} {O} to {L_the}.",
   "{one_day}, {A} asked, \"{P_Cap}, can we go to {L_the}?\" \"Yes, we can,\" said {A_his} {P}.",
   "{one_day}, {A_his} {P} said, \"Let's go to {L_the} today!\" {A} was {happy}.",
   "{one_day}, {A} woke up early. {A_He} wanted to go to {L_the}.")
_t("scene",
   "{weather}",
   "{A} saw {sight1}.",
   "{A} saw {sight1} and {sight2}.",
   "{A_He} heard {sound}.",
   "{A_He} looked around and saw {sight1}.",
   "On the way, {A} saw {sight_animal}.",
   "{A} stopped to watch {sight_animal}.",
   "{A_He} could see {sight1}.")
_t("play_obj",
   "{A} played with {A_his} {O}. {A_He} {O_play}.",
   "{A} {O_play}. {A_He} was having so much fun.",
   "First, {A} {O_play}. {A_He} laughed and laughed.",
   "{A} {O_play}. \"This is fun!\" {A_he} said.")

# ---- plot: a lost object ----
_t("lost_problem",
   "{later}, {A} looked around and the {O} was gone!",
   "When it was time to go home, {A} could not find {A_his} {O}.",
   "{suddenly}, {A} saw that {A_his} {O} was not there anymore.",
   "{A} put the {O} down to {play_short}. When {A_he} came back, it was gone!",
   "{later}, {A} reached for {A_his} {O}, but it was not there.")
_t("lost_feel",
   "{A} felt {sad}. \"Where is my {O}?\" {A_he} {cried}.",
   "\"Oh no! My {O} is lost!\" {A} {cried}. {A_He} felt {sad}.",
   "{A} was {sad}. {A_He} loved that {O} so much.",
   "Tears came to {A_his} eyes. \"I want my {O},\" {A_he} said.",
   "{A} was {sad}. \"Now I can't {O_wish} anymore,\" {A_he} said.")
_t("lost_search",
   "{A} looked {H1}. {A_He} looked {H2}, too. But the {O} was not there.",
   "{A_He} looked {H1}, but {A_he} did not find it.",
   "{A} searched {H1} and {H2}. It was nowhere to be seen.",
   "{A} looked everywhere. {A_He} looked {H1} and {H2}, but there was no {O}.")
_t("lost_help",
   "Then {B} came by. \"Why are you {sad}, {A}?\" {B_he} asked. {A} told {B} about the {O}. \"I will help you look,\" said {B}.",
   "Just then, {A_his} friend {B} came over. \"What is wrong?\" asked {B}. \"I lost my {O},\" said {A}. \"Don't worry, we will find it together,\" said {B}.",
   "{B} saw that {A} was {sad}. \"Can I help?\" {B_he} asked. {A} nodded. \"Yes, please. I lost my {O}.\"",
   "{A_His} {P} came to see what was wrong. \"Let's look for it together,\" said {A_his} {P}.")
_t("lost_found",
   "They looked together. {finally}, {helper} saw something {O_adj} {H3}. It was the {O}!",
   "They looked {H3}. And there it was! The {O} was hiding {H3}.",
   "{suddenly}, {helper} pointed {H3}. \"Look, {A}! There it is!\" It was the {O}!",
   "They looked and looked. {finally}, {A} found the {O} {H3}. A {sight_thief} had taken it there!")
_t("lost_happy",
   "{A} was {happy}. \"Thank you so much!\" {A_he} said, and gave {helper} {hug}.",
   "{A} {smiled}. \"My {O}! I found it!\" {A_he} said.",
   "{A} held the {O} close. \"I will never lose you again,\" {A_he} said.",
   "\"Thank you for helping me,\" said {A}. \"That is what friends do,\" said {helper}.")
_t("lost_end",
   "From that day on, {A} always kept {A_his} {O} close.",
   "{A} learned to be careful with the things {A_he} loves.",
   "They played with the {O} until the sun went down.",
   "After that, {A} never left {A_his} {O} alone again.",
   "{A} learned that it is good to have friends who help.")

# ---- plot: something stuck up high ----
_t("stuck_problem",
   "{suddenly}, a strong wind came. It blew the {O} up onto {HIGH}!",
   "{A} threw the {O} too high. It landed on {HIGH} and got stuck.",
   "Then a big gust of wind took the {O} away. It flew up and got stuck on {HIGH}.",
   "{A} tossed the {O} up into the air, but it did not come down. It was stuck on {HIGH}!")
_t("stuck_try",
   "{A} jumped as high as {A_he} could, but {A_he} could not reach it.",
   "{A} tried to climb up, but it was too high.",
   "{A} threw a stick at it, but the {O} did not come down.",
   "{A} stood on {A_his} toes and stretched {A_his} arms, but it was no use.",
   "{A} waited and waited, but the {O} stayed stuck.")
_t("stuck_feel",
   "{A} felt {sad}. \"My {O} is stuck! How will I get it down?\" {A_he} said.",
   "\"Oh no!\" {A} {cried}. \"I want my {O} back!\"",
   "{A} sat down on the grass. {A_He} was {sad} and did not know what to do.",
   "\"I just wanted to {O_wish},\" said {A}, and {A_he} started to cry.",
   "{A} looked up at the {O}. \"Please come down,\" {A_he} said. But the {O} did not move.")
_t("stuck_help_stick",
   "Then {B} came by. \"I have an idea!\" said {B}. {B_He} found a long stick and poked the {O}. It fell right down!",
   "{B} saw the {O} and said, \"Let's use a long stick!\" Together, they pushed the {O} with a stick until it fell down.",
   "\"Don't worry, {A},\" said {B}. \"I am tall. I will stand on this rock and reach it.\" {B} stretched up and pulled the {O} free.")
_t("stuck_help_parent",
   "{A} ran to get {A_his} {P}. {P_He} brought a ladder, climbed up, and got the {O} down.",
   "{A_His} {P} heard {A} and came to help. \"Let me get it,\" {P_he} said. {P_He} used a ladder to reach the {O}.",
   "{A} asked the {grownup} for help. The {grownup} got a tall ladder and brought the {O} down.")
_t("stuck_help_animal",
   "Then a kind bird flew up to the {O}. It pushed the {O} with its beak, and the {O} fell down.",
   "A little squirrel saw the {O}. It ran up, wiggled the {O} free, and it dropped to the ground.",
   "Then the wind blew again, and the {O} came gently down into {A_his} arms.",
   "A kind owl flew over, pulled the {O} free with its feet, and dropped it next to {A}.")
_t("stuck_happy",
   "{A} was {happy} to have {A_his} {O} back. \"Thank you!\" {A_he} said.",
   "\"Thank you so much!\" said {A}. {A_He} hugged {A_his} {O}.",
   "{A} {smiled}. {A_His} {O} was safe again.",
   "\"Hooray!\" {A} {shouted}. {A_He} jumped up and down with joy.")
_t("stuck_end",
   "After that, {A} was more careful when {A_he} played with {A_his} {O}.",
   "{A} learned that when you have a problem, it is good to ask for help.",
   "They played together for the rest of the day.",
   "From then on, {A} played far away from the tall trees.",
   "{A} learned that friends can help you when things are hard.")

# ---- plot: sharing ----
_t("share_ask",
   "{one_day}, {B} came to play. {B} saw the {O} and asked, \"Can I play with your {O}, please?\"",
   "{one_day}, {A} was playing with {A_his} {O} {L_at}. {B} came over. \"Can I have a turn?\" asked {B}.",
   "{one_day}, {A} and {B} were playing {L_at}. {B} wanted to play with the {O}, too.")
_t("share_refuse",
   "\"No!\" said {A}. \"It is mine!\" {A} held the {O} tight.",
   "{A} did not want to share. \"No, you can't have it,\" {A_he} said.",
   "\"It is my {O}. I want to play with it by myself,\" said {A}.")
_t("share_break",
   "{B} tried to take the {O}. {A} pulled it back. They pulled and pulled, and then the {O} broke!",
   "They both grabbed the {O}. It slipped and fell into a puddle of mud. Now it was all dirty.",
   "{A} and {B} pulled the {O} back and forth. {suddenly}, there was a loud snap. The {O} was broken!")
_t("share_cry",
   "Both of them started to cry.",
   "{A} and {B} were both {sad}. Now nobody could play with the {O}.",
   "{A} looked at the {O} and felt {sad}. {B} felt {sad}, too.")
_t("share_parent",
   "{A_His} {P} came to see what was wrong. {P_He} fixed the {O} and said, \"If you share, you can both have fun.\"",
   "{A_His} {P} heard the crying and came over. \"Toys are more fun when we share them,\" {P_he} said. {P_He} cleaned the {O} and gave it back.",
   "Then {A_his} {P} came. \"Why don't you take turns?\" {P_he} said kindly. {P_He} fixed the {O} with some tape.")
_t("share_alone",
   "{B} walked away, {sad}. {A} played with the {O} alone, but it was not much fun.",
   "{B} sat down by {B_self}. {A} played with the {O}, but soon {A_he} felt lonely.",
   "{B} looked {sad} and went to sit on a bench. {A} kept the {O}, but {A_he} did not feel happy.")
_t("share_change",
   "{A} thought about it. Then {A_he} walked over to {B}. \"I am sorry,\" said {A}. \"Do you want to play with my {O}?\"",
   "{A} felt bad. {A_He} went to {B} and said, \"Here, you can have a turn.\"",
   "{A} looked at {B}. \"Let's play with it together,\" {A_he} said.")
_t("share_happy",
   "{B} {smiled_B}. They took turns with the {O}, and they had lots of fun.",
   "\"Thank you, {A}!\" said {B}. They played together all afternoon.",
   "They took turns and {play_game}. It was much more fun than playing alone.",
   "{B} was {happy}. \"You are a good friend,\" {B_he} said.")
_t("share_end",
   "{A} learned that sharing makes everyone happy.",
   "From that day on, {A} always shared {A_his} toys.",
   "{A} and {B} became best friends, and they shared everything.",
   "{A} learned that it is more fun to play together.")

# ---- plot: fear (each fear has its own beats; see _FEARS) ----
_t("fear_comfort",
   "\"It is okay to be scared,\" said {A_his} {P}. \"But you are brave.\"",
   "{A_His} {P} gave {A_him} {hug}. \"I am here with you,\" {P_he} said.",
   "{A_His} {P} held {A_his} hand. \"Let's be brave together,\" {P_he} said.")
_t("fear_end",
   "{A} was not scared anymore.",
   "From that night on, {A} was a little braver.",
   "{A} learned that many things are not as scary as they look.",
   "{A} felt proud of {A_self} for being so brave.")

# ---- plot: helping an animal (see _ANIMAL_HELP) ----
_t("help_find",
   "{one_day}, {A} was walking {L_at} when {A_he} heard a little sound.",
   "{one_day}, {A} was playing {L_at}. {suddenly}, {A_he} saw something move.",
   "{one_day}, {A} went for a walk {L_at}. {A_He} heard a soft cry.")
_t("help_end",
   "{A} was proud that {A_he} had helped.",
   "{A} learned that it feels good to help others.",
   "From then on, {A} and the {creature} were friends.",
   "Every day after that, the {creature} came to visit {A}.")

# ---- plot: making a gift (see _GIFTS) ----
_t("gift_reason",
   "{one_day}, {A} remembered that {A_his} {P} had a birthday that day.",
   "{one_day}, {A} wanted to make something special for {A_his} {P}.",
   "{A_His} {P} had been very busy all week, so {A} wanted to make {P_him} happy.",
   "{one_day}, {A} had an idea. \"I will make a gift for {P_Cap}!\" {A_he} said.")
_t("gift_give",
   "When {A_his} {P} came home, {A} gave {P_him} the {gift}. \"Surprise!\" {A_he} said.",
   "{A} ran to {A_his} {P} with the {gift}. \"This is for you!\" {A_he} said.",
   "{A} hid the {gift} behind {A_his} back. Then {A_he} said, \"Close your eyes, {P_Cap}!\" and showed {P_him} the {gift}.")
_t("gift_love",
   "{A_His} {P} smiled. \"This is the best gift ever!\" {P_he} said. {P_He} gave {A} {hug}.",
   "{A_His} {P} was so happy. \"Thank you, {A}. I love it!\" {P_he} said.",
   "{A_His} {P} had tears of joy. \"You made this for me? It is wonderful!\"")
_t("gift_end",
   "{A} learned that the best gifts come from the heart.",
   "{A} felt warm inside. Making someone happy made {A_him} happy, too.",
   "{A} learned that when something goes wrong, you can try again.",
   "It was the best day ever.")

# ---- plot: not listening (see _WARNINGS) ----
_t("warn_listen",
   "But {A} did not listen.",
   "But {A} wanted to {want} so much.",
   "{A} said, \"Okay.\" But then {A_he} forgot.",
   "{A} nodded, but when {A_his} {P} was not looking, {A_he} went anyway.")
_t("warn_sorry",
   "\"I am sorry, {P_Cap},\" said {A}. \"I should have listened to you.\"",
   "{A} said sorry to {A_his} {P}. {P_He} gave {A_him} {hug} and said, \"I am glad you are okay.\"",
   "\"I am sorry,\" {A} said. {A_His} {P} smiled. \"Everyone makes mistakes,\" {P_he} said.")
_t("warn_end",
   "{A} learned to listen to {A_his} {P}.",
   "From that day on, {A} always listened when {A_his} {P} told {A_him} to be careful.",
   "{A} learned that rules are there to keep us safe.",
   "After that, {A} was much more careful.")

# ---- plot: a new friend ----
_t("new_lonely",
   "{A} did not have any friends to play with. {A_He} felt lonely.",
   "{A} and {A_his} family had just moved to a new town. {A} did not know anyone.",
   "{A} liked to play alone, but sometimes {A_he} wished {A_he} had a friend.",
   "All the other kids were playing, but {A} was too shy to join them.")
_t("new_meet",
   "{one_day}, {A} went {L_at_go}. There {A_he} saw {B_a} sitting all alone.",
   "{one_day}, {A_his} {P} took {A_him} {L_at_go}. {A} saw {B_a} who looked lonely, too.",
   "{one_day}, {A} was {L_at}. {suddenly}, {B_a} came up to {A_him}.")
_t("new_hello",
   "{A} was shy, but {A_he} said, \"Hello! My name is {A}. What is your name?\" \"I am {B},\" said the {B_kind}.",
   "\"Hi,\" said {A}. \"I'm {A}.\" The {B_kind} smiled. \"My name is {B}. Do you want to play?\"",
   "\"Hello,\" said the {B_kind}. \"I am {B}. Can I play with you?\" {A} was {happy}. \"Yes!\" {A_he} said.")
_t("new_common",
   "{A} and {B} both loved to {like_act_both}. They {play_game} together.",
   "They {play_game} and then they {play_game}.",
   "{B} showed {A} how to {like_act_both}. {A} showed {B} {A_his} {O}.",
   "They laughed and {play_game}. Time went by so fast.")
_t("new_problem",
   "{later}, {B} fell down and hurt {B_his} knee. {A} helped {B_him} up and held {B_his} hand.",
   "{later}, it started to rain. {A} shared {A_his} umbrella with {B}.",
   "{later}, {B} was hungry. {A} shared {A_his} {snack_food} with {B_him}.",
   "{later}, {B} was too scared to go down the big slide. \"We can go together,\" said {A}.")
_t("new_end",
   "From that day on, {A} and {B} were best friends.",
   "\"Will you come back tomorrow?\" asked {B}. \"Yes!\" said {A}. And they played together every day after that.",
   "{A} was not lonely anymore. {A_He} had a new friend.",
   "{A} learned that saying hello is the first step to making a friend.")

# ---- plot: learning something new (see _SKILLS) ----
_t("skill_fail_feel",
   "{A} felt {sad}. \"I will never learn,\" {A_he} said.",
   "{A} wanted to give up. \"It is too hard,\" {A_he} {cried}.",
   "{A} was {angry}. \"I can't do it!\" {A_he} said.")
_t("skill_encourage",
   "\"Don't give up,\" said {A_his} {P}. \"It is hard for everyone at first. Try again.\"",
   "{B} said, \"You can do it, {A}! Just keep trying.\"",
   "\"It takes practice,\" said {A_his} {P}. \"Try a little every day.\"")
_t("skill_practice",
   "So {A} tried again, and again, and again.",
   "Every day, {A} practiced a little more.",
   "{A} took a deep breath and tried one more time.")
_t("skill_proud",
   "{A} was so proud. \"I did it!\" {A_he} {shouted}.",
   "\"Look at me!\" {A} {shouted}. Everyone clapped.",
   "{A_His} {P} clapped and cheered. {A} felt {happy}.")
_t("skill_end",
   "{A} learned that if you keep trying, you can do hard things.",
   "{A} learned that practice helps you get better.",
   "Now {A} could {skill} all by {A_self}.")

# ---- plot: a rainy day ----
_t("rain_plan",
   "{one_day}, {A} wanted to go to {L_the} with {B}.",
   "{A} and {B} had a plan. They would have a picnic {L_at}.",
   "{A} was excited. Today {A_he} and {A_his} {P} were going to {L_the}.")
_t("rain_start",
   "But when {A} looked out the window, it was raining.",
   "But then dark clouds came, and it started to rain.",
   "{suddenly}, there was thunder and the rain began to fall.",
   "But it rained and rained. The sky was gray.")
_t("rain_sad",
   "{A} felt {sad}. \"Now we can't go outside,\" {A_he} said.",
   "\"Oh no!\" said {A}. \"The rain ruined everything.\"",
   "{A} pressed {A_his} nose on the window and sighed.")
_t("rain_idea",
   "\"I have an idea,\" said {A_his} {P}. \"Let's {indoor} inside!\"",
   "Then {B} had an idea. \"We can {indoor}!\"",
   "{A_His} {P} smiled. \"Rainy days can be fun, too. How about we {indoor}?\"")
_t("rain_fun",
   "So they {indoor_past}. It was so much fun!",
   "They {indoor_past}. {A} laughed and laughed.",
   "They {indoor_past}. {A} forgot all about the rain.")
_t("rain_end",
   "{later}, the rain stopped and a big rainbow came out. \"Look!\" said {A}. It was a perfect day after all.",
   "When the rain stopped, they ran outside and jumped in the puddles.",
   "{A} learned that you can have fun on any day, even a rainy one.",
   "The next day, the sun came out, and they went to {L_the} after all.")

# ---- plot: a race ----
_t("race_start",
   "{one_day}, {A} and {B} went to {L_the}. \"Let's have a race!\" said {B}.",
   "{one_day}, {A} said to {B}, \"I bet I can run faster than you!\" \"Let's race to the big tree,\" said {B}.",
   "{one_day}, all the animals {L_at} wanted to have a race. {A} and {B} were ready.")
_t("race_run",
   "\"Ready, set, go!\" They ran as fast as they could.",
   "They started to run. {A} was fast, but {B} was fast, too.",
   "They ran and ran. The wind blew in their faces.")
_t("race_fall",
   "{suddenly}, {B} tripped over a rock and fell down. \"Ouch!\" {B_he} {cried}.",
   "{suddenly}, {B} slipped in the mud and hurt {B_his} leg.",
   "Then {B} fell and dropped {B_his} hat. {B_He} sat on the ground, {sad}.")
_t("race_choice",
   "{A} could win the race, but {A_he} stopped. {A_He} ran back to help {B}.",
   "{A} saw {B} on the ground. {A_He} did not keep running. {A_He} went back to help.",
   "{A} wanted to win, but {A_his} friend needed help. So {A} turned around.")
_t("race_help",
   "\"Are you okay?\" asked {A}. {A_He} helped {B} get up. They walked to the end together.",
   "{A} helped {B} stand up. \"We can finish together,\" {A_he} said.",
   "{A} gave {B} {A_his} hand. Slowly, they crossed the finish line side by side.")
_t("race_end",
   "Nobody won the race, but {A} and {B} were both {happy}. Being a good friend was better than winning.",
   "{B} said, \"Thank you, {A}. You are the best friend ever.\" {A} learned that friends matter more than winning.",
   "Everyone cheered for {A}. {A} did not win, but {A_he} was proud of {A_self}.")

_t("goodnight",
   "That night, {A} went to sleep with a big smile.",
   "That night, {A} had sweet dreams.",
   "When the stars came out, {A} was tired and happy.",
   "{A} went to bed happy that night.",
   "Then it was time for dinner. {A} and {A_his} family ate {dinner}.")
_t("gift_ruined",
   "{A} felt {sad}. \"Now it is ruined,\" {A_he} said.",
   "{A} was {sad}. \"Oh no! What will I do now?\" {A_he} said.",
   "{A} wanted to cry. But then {A_he} had an idea.")
_t("skill_again",
   "The next try did not work either, but this time {A} did not get upset.",
   "It still did not work. But {A} did not give up, and {A_he} kept going.")
_t("rain_snack", "Then they had {snack} and {snack}.", "After that, they had {snack} for a snack.")
_t("warn_say",
   "{one_day}, {A_his} {P} said, \"{A}, please do not {W}. {R}.\"",
   "\"{A}, do not {W},\" said {A_his} {P}. \"{R}.\"",
   "{A_His} {P} always told {A_him}, \"Do not {W}. {R}.\"")


# ---- appearance, clothes and routine (shared, optional) ----
_t("looks_child",
   "{A_He} had {hair} hair and {eyes} eyes.",
   "{A_He} had {hair} hair and a big smile.",
   "{A_He} had {hair} hair, {eyes} eyes, and {mark}.",
   "{A_He} was {age} years old and had {mark}.")
_t("looks_animal",
   "{A_He} had {coat} and {feature}.",
   "{A_He} had {coat}.",
   "{A_He} was small, with {coat} and {feature}.")
_t("dress",
   "{A} put on {A_his} {clothes} and {A_his} {clothes2}.",
   "{A} wore {A_his} {favorite} {clothes}.",
   "Before going out, {A} put on {A_his} {clothes}.")
_t("routine",
   "Every morning, {A} ate {breakfast} and brushed {A_his} teeth.",
   "That morning, {A} ate {breakfast} with {A_his} family.",
   "First, {A} had {breakfast} for breakfast.")

# ---- plot: growing a plant ----
_t("seed_get",
   "{one_day}, {A_his} {P} gave {A} a little {seed} seed.",
   "{one_day}, {A} found {seed_a} seed in a small paper bag.",
   "{one_day}, {A} and {A_his} {P} went to the market, and {A} picked out one {seed} seed.")
_t("seed_plant",
   "{A} dug a small hole in the garden, put the seed in, and covered it with soil.",
   "{A} put the seed in a pot of dirt near the window.",
   "{A_His} {P} showed {A_him} how to plant it. They put it in the ground and gave it some water.")
_t("seed_wait",
   "Every day, {A} watered the seed. But nothing happened.",
   "{A} looked at the dirt every morning. There was still nothing there.",
   "One day passed, then two, then three. {A} did not see anything grow.")
_t("seed_impatient",
   "\"Why is it not growing?\" asked {A}. \"Plants need time, sun, and water,\" said {A_his} {P}. \"Be patient.\"",
   "{A} was {sad}. \"Maybe it is broken,\" {A_he} said. {A_His} {P} laughed. \"Seeds are slow. Just wait and see.\"",
   "{A} wanted the plant to grow right away. \"Good things take time,\" said {A_his} {P}.")
_t("seed_trouble",
   "Then one hot week, {A} forgot to water it. The little plant began to droop. {A} gave it a big drink, and the next day it stood up tall again.",
   "Then a hungry rabbit came and nibbled on the leaves! {A} put a little fence around the plant to keep it safe.",
   "Then a big storm came. {A} put a bucket over the little plant so the wind would not hurt it.")
_t("seed_sprout",
   "{finally}, a tiny green sprout came out of the dirt! \"Look!\" {A} {shouted}.",
   "One morning, {A} saw two little green leaves. \"It is growing!\" {A_he} said.",
   "{later}, a little green stem poked out of the soil. {A} was {happy}.")
_t("seed_grow",
   "The plant grew taller and taller. Soon it was taller than {A}!",
   "Week after week, the plant grew bigger and stronger.",
   "{A} kept watering it, and it kept growing, day after day.")
_t("seed_end",
   "{A} learned that good things take time.",
   "{A} learned that if you take care of something, it will grow.",
   "{A} was proud. {A_He} had grown it all by {A_self}.")

# ---- plot: a treasure map ----
_t("map_find",
   "{one_day}, {A} found an old map in the attic. There was a big red X on it.",
   "{one_day}, {A_his} {P} gave {A} a map. \"This map shows where a treasure is hidden,\" {P_he} said with a wink.",
   "{one_day}, {A} and {B} found a paper in an old bottle. It was a treasure map!")
_t("map_go",
   "\"Let's find the treasure!\" said {A}. {A} and {B} followed the map {L_at}.",
   "{A} asked {B} to come along. Together they went {L_at_go} to look for the treasure.",
   "{A} put on {A_his} {clothes} and took a shovel. {A} and {B} set off {L_at_go}.")
_t("map_clue",
   "The map said, \"Walk to {clue}.\" So they did.",
   "First, they had to find {clue}. It took a long time, but they found it.",
   "They followed the map past {clue}.")
_t("map_count",
   "\"Now take ten big steps,\" read {A}. They counted, \"One, two, three, four, five, six, seven, eight, nine, ten!\"",
   "The map said to take five steps to the left. {A} counted the steps out loud.",
   "Next, they had to look for a rock shaped like a heart. {B} found it first.")
_t("map_dig",
   "They started to dig. They dug and dug until they hit something hard.",
   "{A} dug with the shovel. {suddenly}, there was a clunk. It was a box!",
   "They moved some leaves and dug a little hole. Under the dirt was an old box.")
_t("map_open",
   "Inside the box, there was {treasure}! \"Wow!\" said {B}.",
   "They opened the box slowly. Inside was {treasure}.",
   "{A} lifted the lid. There was {treasure} inside!")
_t("map_end",
   "They shared the treasure, and it was the best adventure ever.",
   "{A} and {B} put the box back so another child could find it one day.",
   "\"The best treasure is having a friend to share it with,\" said {A}.",
   "They ran home to show {A_his} {P}. What a wonderful day!")

# ---- plot: a messy room ----
_t("mess_state",
   "{A_His} room was very messy. There were toys on the floor, clothes on the bed, and books everywhere.",
   "{A} never put {A_his} toys away. Soon {A_his} room was a big mess.",
   "{A} liked to play, but {A_he} did not like to clean up. {A_His} room was full of toys and clothes.")
_t("mess_problem",
   "{one_day}, {A} wanted to play with {A_his} {O}, but {A_he} could not find it anywhere.",
   "{one_day}, {A} stepped on a block and said, \"Ouch!\" {A_His} foot hurt.",
   "{one_day}, {A_his} friend {B} was coming to play, but there was no room to sit.")
_t("mess_parent",
   "\"It is time to clean your room,\" said {A_his} {P}. \"I will help you.\"",
   "{A_His} {P} looked at the room. \"If we clean up together, it will go fast,\" {P_he} said.",
   "\"Let's make cleaning a game,\" said {A_his} {P}. \"Who can pick up the most toys?\"")
_t("mess_clean",
   "First, {A} picked up all the {room_thing}. Then {A_he} put them in the {room_place}.",
   "{A} put the {room_thing2} in the {room_place} and the {room_thing3} on the {room_shelf}.",
   "{A} folded {A_his} clothes and put the {room_thing2} on the {room_shelf}.")
_t("mess_find",
   "Under the bed, {A} found {A_his} {O}! \"There you are!\" {A_he} said.",
   "{A} found {A_his} {O} hiding under a pile of clothes.",
   "Behind the toy box, {A} found {A_his} {O}, and a lost sock, too.")
_t("mess_end",
   "Soon the room was clean. {A} felt proud. Now {A_he} could find all {A_his} toys.",
   "When they were done, the room looked bright and nice. \"I like my clean room,\" said {A}.",
   "From that day on, {A} put {A_his} toys away after playing.",
   "{A} learned that a clean room is a happy room.")

# ---- plot: going to the market ----
_t("shop_need",
   "{one_day}, {A_his} {P} wanted to make {dish}. \"We need to go to the store,\" {P_he} said.",
   "{one_day}, there was no food left for dinner. {A} and {A_his} {P} went to the market.",
   "{one_day}, {A_his} {P} gave {A} a list. \"Can you help me shop today?\" {P_he} asked.")
_t("shop_list",
   "On the list were {item}, {item2}, and {item3}.",
   "They needed {item}, {item2}, and some {item3}.",
   "{A_His} {P} wrote a list, and {A} read it out loud: \"{item_cap}, {item2}, and {item3}.\"")
_t("shop_walk",
   "The market was busy and full of people. There were {item_sight}.",
   "At the store, {A} pushed the cart. {A_He} saw {item_sight}.",
   "{A} held hands with {A_his} {P} as they walked past {item_sight}.")
_t("shop_trouble",
   "{A} carried the bag with the {item}. But then {A_he} tripped, and the bag fell. The {item} went all over the floor!",
   "{A} found the {item}, but {A_he} could not find the {item2}. {A_He} looked on every shelf.",
   "At the checkout, {A} saw an old woman drop her apples. They rolled all over the floor.",
   "{A} wanted a big bag of candy. \"Not today,\" said {A_his} {P}. {A} felt {sad}.")
_t("shop_fix",
   "\"It is okay,\" said {A_his} {P}. \"Accidents happen.\" They went back and got some more.",
   "A kind man who worked at the store showed {A} where it was. \"Thank you!\" said {A}.",
   "{A} ran to help her pick them up. \"What a kind child,\" the old woman said, and gave {A} a shiny apple.",
   "{A_His} {P} let {A} pick one small treat instead. {A} chose a red apple.")
_t("shop_home",
   "When they got home, {A} helped make {dish}. It was yummy.",
   "At home, they made {dish} together. {A} helped mix and stir.",
   "That night, they ate {dish}. \"I helped buy this!\" said {A} proudly.")

# ---- extra sentences for the lost-object and stuck-object plots ----
_t("snack_time",
   "Then they sat down and ate {snack}.",
   "{A} was hungry, so {A_he} ate {snack}.",
   "{A_His} {P} gave {A_him} {snack}. \"Thank you,\" said {A}.",
   "After that, they had {snack} on a blanket in the shade.")

# ---- short phrases used inside other templates ----
_POOLS["play_short"] = _split("get a drink of water|look at a butterfly|chase a bird|eat a snack|tie {A_his} shoes|play tag|pick a flower")
_POOLS["sight_thief"] = _split("little dog|naughty puppy|curious squirrel|small bird|busy mouse|playful kitten|sneaky crow|little raccoon")
_POOLS["indoor"] = _split(
    "build a fort with blankets|bake cookies|paint pictures|play a board game|make a puppet show|"
    "read a story|have a tea party|build a tower with blocks|make paper boats|dance to music")
_INDOOR_PAST = {
    "build a fort with blankets": "built a fort with blankets and pillows",
    "bake cookies": "baked cookies and ate them warm",
    "paint pictures": "painted pictures of the sun and the flowers",
    "play a board game": "played a board game on the floor",
    "make a puppet show": "made a puppet show with old socks",
    "read a story": "read a story about a brave little dragon",
    "have a tea party": "had a tea party with all the toys",
    "build a tower with blocks": "built a tower with blocks that was taller than the table",
    "make paper boats": "made paper boats and put them in the bath",
    "dance to music": "danced to music in the living room",
}
_POOLS["smiled_B"] = _split("smiled|smiled a big smile|laughed|grinned|clapped {B_his} hands")
_POOLS["snack_food"] = _split("apple|cookies|sandwich|grapes|crackers|cake|banana|cheese|muffin")
_POOLS["grownup"] = _GROWNUPS

_POOLS["hair"] = _split("curly brown|long black|short red|golden|straight black|messy brown|long curly|wavy red|short brown|long yellow|curly black|soft brown")
_POOLS["eyes"] = _split("blue|brown|green|big brown|bright blue|gray|dark brown|big green")
_POOLS["mark"] = _split("freckles on {A_his} nose|a gap in {A_his} teeth|round glasses|rosy cheeks|a missing front tooth|a big, happy laugh")
_POOLS["age"] = _split("three|four|five|six|seven|eight")
_POOLS["clothes"] = _split("{color} coat|{color} jacket|warm sweater|{color} dress|striped shirt|yellow raincoat|{color} cap|{color} hat|{color} scarf|{color} overalls|{color} hoodie")
_POOLS["clothes2"] = _split("{color} boots|new shoes|{color} sneakers|rain boots|{color} sandals|warm socks|{color} mittens|{color} gloves")
_POOLS["favorite"] = _split("favorite|new|old|lucky|warm|best")
_POOLS["breakfast"] = _split("a bowl of oatmeal|cereal with milk|eggs and toast|pancakes|waffles with berries|yogurt and fruit|warm porridge|bread with butter|a banana and some toast")
_POOLS["clue"] = _split("the old oak tree|the big gray rock|the little bridge|the red gate|the tall fence|the old well|the crooked tree|the bench by the path|the pond with the ducks")
_POOLS["treasure"] = _split(
    "a pile of shiny gold coins|a bag of colorful marbles|pretty stones that sparkled in the sun|"
    "an old toy boat and a note|a tiny silver key|a necklace with a blue stone|"
    "chocolate coins wrapped in gold paper|a letter that said, \"You are a great explorer!\"|"
    "a little music box that played a sweet song|old photos of {A_his} {P} as a child")
_POOLS["room_thing"] = _split("blocks|books|crayons|stuffed animals|toy cars|puzzle pieces|dolls|markers|games")
_POOLS["room_place"] = _split("toy box|basket|drawer|closet|big bin")
_POOLS["room_shelf"] = _split("shelf|bed|desk|table|window seat")
_POOLS["item_sight"] = _split("piles of red apples|big yellow bananas|fresh bread|boxes of eggs|jars of honey|bright orange carrots|fish on ice|flowers in buckets|round melons|bags of rice|baskets of berries")

_SEEDS = {
    "sunflower": "It grew into a huge yellow sunflower that turned its face to the sun.",
    "pumpkin": "A big orange pumpkin grew on the vine. In the fall, they made a pumpkin pie.",
    "tomato": "Little green tomatoes grew and turned red. {A} and {A_his} {P} made a salad with them.",
    "bean": "The bean plant climbed up a stick, and soon there were lots of green beans to eat.",
    "strawberry": "Little white flowers came, and then sweet red strawberries. {A} shared them with {A_his} friends.",
    "carrot": "Under the ground, a long orange carrot grew. {A} pulled it out and crunched it.",
    "flower": "One day, the plant opened a beautiful pink flower. {A} gave it to {A_his} {P}.",
    "apple": "It grew into a little apple tree. Many years later, it gave red apples every fall.",
}
_DISHES = {
    "vegetable soup": "carrots|potatoes|onions|peas|beans",
    "an apple pie": "apples|flour|butter|sugar|eggs",
    "pancakes": "flour|eggs|milk|butter|syrup",
    "a fruit salad": "bananas|grapes|oranges|strawberries|apples",
    "a pizza": "cheese|tomatoes|flour|mushrooms|peppers",
    "spaghetti": "noodles|tomatoes|onions|cheese|garlic",
    "a chocolate cake": "flour|eggs|sugar|chocolate|milk",
    "a big salad": "lettuce|tomatoes|cucumbers|carrots|cheese",
    "tacos": "beans|cheese|tomatoes|lettuce|corn",
}
# Body of an animal character: (coats, features) by kind.
_FUR = ("soft {color} fur|fluffy white fur|shiny black fur|warm brown fur|gray fur|soft orange fur",
        "a long tail|big ears|a pink nose|little paws|a fluffy tail|bright eyes|long whiskers|a wet black nose")
_FEATHERS = ("soft {color} feathers|shiny black feathers|fluffy white feathers|brown feathers with spots",
             "a little orange beak|big round eyes|strong wings|two small feet|a tiny beak")
_BODY = {k: _FUR for k in _ANIMAL_KINDS}
_BODY.update({k: _FEATHERS for k in ("duck", "bird", "owl", "penguin", "chicken", "goose")})
_BODY.update({
    "frog": ("smooth green skin|bumpy green skin", "long legs for jumping|big round eyes|a very long tongue"),
    "turtle": ("a hard green shell|a round brown shell", "a slow, steady walk|a small smiling face|short legs"),
    "hedgehog": ("lots of little spikes|brown spikes on {A_his} back", "a tiny black nose|small round ears|little feet"),
    "elephant": ("big gray ears|wrinkly gray skin", "a long trunk|small kind eyes|big round feet"),
    "giraffe": ("brown spots all over|a very long neck", "long legs|two small horns|a long purple tongue"),
    "zebra": ("black and white stripes|bold stripes", "a short mane|a swishy tail|fast legs"),
    "lamb": ("soft white wool|curly wool", "little black hooves|a short tail|soft ears"),
    "tiger": ("orange fur with black stripes|bright stripes", "a long tail|big paws|sharp eyes"),
    "lion": ("a golden mane|soft golden fur", "a loud roar|big paws|a long tail"),
})
_POOLS["snack"] = tuple(x for x in _POOLS["snack"]) + _split(
    "a bowl of yogurt|a handful of raisins|some blueberries|a piece of bread|a juicy plum|"
    "a corn muffin|some apple slices|a slice of cheese")

# Per-case scripts. Each is a tuple of template strings, one beat each.
_FEARS = (
    # the dark
    ("One night, {A} could not sleep. {A_His} room was very dark.",
     "{A} saw a big shadow on the wall. It looked like a monster! \"{P_Cap}!\" {A_he} {shouted}.",
     "{A_His} {P} came in and turned on the light. The monster was just {A_his} coat on the chair.",
     "\"See? It is only your coat,\" said {A_his} {P}. {P_He} gave {A} a little night light.",
     "{A} laughed. With the soft light on, {A_he} was not afraid, and soon {A_he} fell asleep."),
    # thunder
    ("One night, there was a big storm. The wind howled and the rain hit the window.",
     "Then there was a loud BOOM of thunder. {A} hid under {A_his} blanket. {A_He} was {scared}.",
     "{A_His} {P} sat on the bed. \"Thunder is just a big noise from the clouds,\" {P_he} said. \"It can't hurt you.\"",
     "They counted together after each flash of light. One, two, three, BOOM! Soon the thunder was far away.",
     "In the morning, the sky was clear and there was a rainbow. \"The storm is gone,\" said {A}."),
    # a big dog
    ("{one_day}, {A} was walking to {L_the}. A {big} dog ran up to the fence and barked, \"Woof! Woof!\"",
     "{A} jumped back. {A_He} was {scared} of the dog.",
     "The dog's owner came out. \"Don't be afraid,\" she said. \"His name is {PET}. He just wants to say hello.\"",
     "{A} held out {A_his} hand slowly. The dog sniffed it and then licked it. It tickled!",
     "{A} laughed. Now {A_he} and {PET} were friends, and {A_he} said hello to him every day."),
    # a strange noise
    ("One night, {A} heard a strange noise. Scratch, scratch, scratch!",
     "\"What is that?\" {A} whispered. {A_He} was {scared}. {A_He} got out of bed and went to find {A_his} {P}.",
     "{A_His} {P} took a flashlight, and they went to look together.",
     "They followed the sound to the kitchen. There, under the table, was a tiny mouse eating a crumb!",
     "{A} giggled. \"It was just a little mouse!\" {A_His} {P} put the mouse outside, and {A} went back to bed."),
    # the deep water
    ("{one_day}, {A} went to the lake with {A_his} {P}. The water was big and deep.",
     "{A} stood at the edge. {A_He} did not want to go in. \"The water is too deep,\" {A_he} said. {A_He} was {scared}.",
     "{A_His} {P} held {A_his} hand. \"We will go slowly,\" {P_he} said. \"I will be right next to you.\"",
     "{A} put one foot in the water, then the other. The water was cool and nice.",
     "Soon {A} was splashing and laughing. \"This is fun!\" {A_he} said."),
    # the tall slide
    ("{one_day}, {A} went to the playground. There was a new slide. It was very tall.",
     "{A} climbed up the steps, but at the top {A_he} stopped. It was so high! {A} was {scared}.",
     "{B} was waiting at the bottom. \"You can do it, {A}!\" {B_he} called. \"I will catch you!\"",
     "{A} closed {A_his} eyes and pushed off. Whoosh! Down {A_he} went, faster and faster.",
     "At the bottom, {A} opened {A_his} eyes and laughed. \"Again!\" {A_he} said. \"Let's go again!\""),
)

_ANIMAL_HELP = (
    ("bird", "A little bird was on the ground. Its wing was hurt, and it could not fly.",
     "\"Poor little bird,\" said {A}. {A_He} picked it up very gently.",
     "{A} took the bird home. {A_He} made a soft bed for it in a box and gave it water and seeds.",
     "Every day, {A} took care of the bird. After a week, its wing was better.",
     "{A} took the box outside and opened it. The bird flapped its wings and flew up into the sky. It sang a happy song, as if to say thank you."),
    ("duckling", "There was a little duckling all alone. It was crying, \"Quack, quack!\" It had lost its mother.",
     "\"Don't cry,\" said {A}. \"I will help you find your mom.\"",
     "{A} and the duckling walked along the path. They looked behind the trees and under the bushes.",
     "{finally}, they came to the pond. There was the mother duck, swimming with her other babies.",
     "The duckling ran to its mother. \"Quack!\" said the mother duck. She was so happy to see her baby again."),
    ("kitten", "A tiny kitten was stuck high up in a tree. \"Meow! Meow!\" it cried.",
     "\"Don't be scared, little kitten,\" called {A}. \"I will get help.\"",
     "{A} ran to get {A_his} {P}. {A_His} {P} brought a ladder and climbed up the tree.",
     "{A_His} {P} gently picked up the kitten and carried it down.",
     "The kitten purred and rubbed against {A_his} leg. It was not scared anymore."),
    ("puppy", "A little puppy was sitting under a bench. It looked wet and hungry.",
     "\"Are you lost?\" asked {A}. The puppy wagged its tail a little.",
     "{A} gave the puppy some of {A_his} sandwich. Then {A_he} saw a name on its collar. It said {PET}.",
     "{A} and {A_his} {P} walked around the block, calling, \"Does anyone know {PET}?\" {finally}, a girl came running.",
     "\"{PET}! You found my puppy!\" the girl said. \"Thank you so much!\" {PET} barked and licked {A_his} face."),
    ("turtle", "A small turtle was on its back. It kicked its legs, but it could not turn over.",
     "\"Oh, you poor thing,\" said {A}. \"Let me help you.\"",
     "{A} slowly turned the turtle over. It was so slow and so small.",
     "{A} carried the turtle to the pond, so it would be safe from the sun.",
     "The turtle poked out its head, looked at {A}, and then swam away into the cool water."),
    ("bunny", "A little bunny was caught in a bush. Its fur was stuck on the thorns.",
     "\"Hold still, little bunny,\" said {A}. \"I will help you.\"",
     "{A} moved the branches very carefully, one by one.",
     "{finally}, the bunny was free. It hopped around {A} three times.",
     "Then the bunny hopped back to its home under the big tree. {A} waved goodbye."),
    ("bee", "A bee was in a puddle of water. It was buzzing, but it could not get out.",
     "\"Bees help the flowers grow,\" said {A}. \"I must help it.\"",
     "{A} found a leaf and gently put it in the water next to the bee.",
     "The bee climbed onto the leaf. {A} put the leaf down in the sun, so the bee could dry its wings.",
     "Soon the bee flew away to the flowers. Buzz, buzz! It seemed to say thank you."),
)

_GIFTS = (
    # (gift noun, make sentence, mishap, fix)
    ("cake", "{A} decided to bake a cake. {A_He} got flour, eggs, milk, and sugar.",
     "But when {A} opened the bag of flour, it spilled everywhere! There was flour on the floor and on {A_his} nose.",
     "{A} did not give up. {A_He} cleaned up the mess and tried again. This time, the cake came out just right."),
    ("picture", "{A} decided to draw a picture. {A_He} drew the sun, a house, and the whole family.",
     "But then the dog jumped up and stepped on the picture with its muddy paws!",
     "{A} looked at the paw prints and smiled. {A_He} drew a dog next to them. Now the picture had everyone in it."),
    ("card", "{A} decided to make a card. {A_He} folded the paper and wrote, \"I love you\" in big letters.",
     "But a gust of wind blew the card out the window and into a puddle!",
     "{A} ran outside, picked it up, and let it dry in the sun. Then {A_he} added some flowers to cover the spots."),
    ("necklace", "{A} decided to make a necklace out of flowers. {A_He} picked red, yellow, and white flowers.",
     "But the string broke, and all the flowers fell on the ground!",
     "{A} asked {B} to help. Together, they tied the flowers on a new string, one by one."),
    ("paper crown", "{A} decided to make a paper crown. {A_He} cut the paper and colored it gold.",
     "But {A} cut it too small. It did not fit on anyone's head!",
     "{A} taped on another piece of paper to make it bigger. Then {A_he} added some shiny stars."),
    ("cookies", "{A} decided to make cookies with {B}. They mixed the dough and made shapes of hearts and stars.",
     "But they forgot about the cookies in the oven, and some of them burned!",
     "{A} and {B} picked out the good cookies and put them on a pretty plate. There were still plenty."),
)

_WARNINGS = (
    # (warning, reason, want, act, consequence)
    ("go near the pond", "You might fall in", "see the fish in the pond",
     "{A} went close to the edge of the pond to look at the fish.",
     "{suddenly}, {A} slipped on the wet grass and fell in with a big splash! {A_He} was all wet and cold. {A_His} {P} pulled {A_him} out and wrapped {A_him} in a towel."),
    ("play ball in the house", "You might break something", "play with the ball",
     "{A} kicked the ball in the living room.",
     "The ball hit a vase, and it fell to the floor. Crash! The vase broke into many pieces."),
    ("climb the big tree", "It is too high", "see what was at the top",
     "{A} started to climb the tree, higher and higher.",
     "Then {A_his} foot slipped, and {A} fell down onto the grass. {A_He} hurt {A_his} knee and started to cry."),
    ("eat the cookies before dinner", "You will get a tummy ache", "eat just one cookie",
     "{A} took one cookie, and then another, and then another.",
     "At dinner, {A} was too full to eat. Then {A_his} tummy began to hurt."),
    ("go out without your coat", "It is very cold today", "play in the snow right away",
     "{A} ran out into the snow in just a shirt.",
     "Soon {A} was shaking. {A_His} nose was red and {A_his} hands were like ice. The next day, {A_he} had a cold."),
    ("touch the hot stove", "It is very hot", "see what was cooking",
     "{A} reached up to touch the pot on the stove.",
     "\"Ouch!\" {A} {cried}. The pot was very hot. {A_His} {P} put {A_his} hand in cold water until it felt better."),
    ("run on the wet floor", "You might slip", "get to the kitchen fast",
     "{A} ran across the kitchen floor.",
     "Whoops! {A} slipped and landed on {A_his} bottom. The floor was still wet and very slippery."),
    ("pick the flowers in the neighbor's garden", "They are not ours to take", "have the pretty flowers",
     "{A} picked three red flowers from the neighbor's garden.",
     "The neighbor saw {A} and looked {sad}. \"I worked so hard on my garden,\" she said."),
    ("paint on the walls", "Paint is for paper", "make a big picture",
     "{A} took the paint and made a big picture on the wall.",
     "The paint would not come off the wall. {A} had to help clean it for a long, long time."),
)

_SKILLS = (
    # (skill, setup, fail)
    ("ride a bike", "{A} got a new bike. {A} wanted to ride it, but it was hard to stay up.",
     "{A} pushed the pedals, but the bike wobbled and {A} fell down."),
    ("swim", "{A} wanted to learn to swim. {A} went to the pool with {A_his} {P}.",
     "{A} kicked {A_his} legs and moved {A_his} arms, but {A_he} went under and swallowed some water."),
    ("tie my shoes", "{A} wanted to tie {A_his} shoes all by {A_self}.",
     "{A} made a loop, but the laces got all tangled up."),
    ("jump rope", "{A} wanted to learn to jump rope like the big kids.",
     "{A} jumped, but the rope hit {A_his} feet every time."),
    ("whistle", "{A} wanted to learn how to whistle like {A_his} {P}.",
     "{A} blew and blew, but only air came out. No whistle at all."),
    ("climb the rope", "{A} wanted to climb the rope at the playground.",
     "{A} held on tight and pulled, but {A_his} arms got tired and {A_he} slid back down."),
    ("read a book", "{A} wanted to read a book all by {A_self}.",
     "{A} looked at the words, but the letters were hard, and {A_he} got mixed up."),
    ("skate", "{A} got new skates. {A} wanted to skate like {A_his} friend {B}.",
     "{A} stood up, took one step, and fell right on {A_his} bottom."),
)
_SKILL_SUCCESS = {
    "ride a bike": "{finally}, one day, {A} pushed the pedals and did not fall. {A_He} was riding the bike!",
    "swim": "{finally}, {A} kicked and paddled, and {A_he} stayed on top of the water. {A_He} was swimming!",
    "tie my shoes": "{finally}, {A} made one loop, then another, and pulled. It was a bow!",
    "jump rope": "{finally}, {A} jumped at just the right time. One, two, three, four, five jumps!",
    "whistle": "{finally}, {A} made a little round mouth and blew softly. A real whistle came out!",
    "climb the rope": "{finally}, {A} climbed all the way to the top and rang the bell.",
    "read a book": "{finally}, {A} read the whole page without any help. Then {A_he} read the whole book!",
    "skate": "{finally}, {A} skated all the way around the park without falling.",
}

# The game two new friends share ({like_act_both}) is a like_act without pronouns.
_POOLS["like_act_both"] = tuple(a for a in _POOLS["like_act"] if "{" not in a)

# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

_VOWEL_SOUND = ("a", "e", "i", "o", "u")


def _art(phrase: str) -> str:
    """Prefix 'a' or 'an' (by first letter; our word lists avoid the exceptions)."""
    return ("an " if phrase[0] in _VOWEL_SOUND else "a ") + phrase


def _cap(s: str) -> str:
    """Capitalise the first letter of a sentence (after an opening quote)."""
    if s.startswith('"'):
        return '"' + s[1:2].upper() + s[2:]
    return s[:1].upper() + s[1:]


class _Slots(dict):
    """Story slots; a missing key is a free slot drawn from ``_POOLS`` at each use."""

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        value = self.rng.choice(_POOLS[key])
        if "{" in value:
            value = value.format_map(self)
        return value


def _character(rng: random.Random, role: str, slots: _Slots, animal: bool,
               avoid: str = "") -> None:
    """Fill the slots of one named character (role 'A' or 'B')."""
    gender = rng.choice(("she", "he"))
    if animal:
        kind = rng.choice(_ANIMAL_KINDS)
        pool = _PET_NAMES if rng.random() < 0.5 else (_GIRL_NAMES if gender == "she" else _BOY_NAMES)
    else:
        kind = "girl" if gender == "she" else "boy"
        pool = _GIRL_NAMES if gender == "she" else _BOY_NAMES
    name = rng.choice(pool)
    while name == avoid:
        name = rng.choice(pool)
    pro = _PRONOUNS[gender]
    slots[role] = name
    slots[role + "_he"] = pro["he"]
    slots[role + "_him"] = pro["him"]
    slots[role + "_his"] = pro["his"]
    slots[role + "_self"] = pro["self"]
    slots[role + "_He"] = pro["he"].capitalize()
    slots[role + "_His"] = pro["his"].capitalize()
    slots[role + "_kind"] = kind
    adj = rng.choice(_CHAR_ADJS)
    slots[role + "_a"] = _art(f"{adj} {kind}" if rng.random() < 0.8 else kind)


# Places where nothing is thrown, raced or rescued.
_INDOOR = frozenset({"school", "library"})


def _setup(rng: random.Random, tag: str = "", outdoor: bool = False) -> tuple[_Slots, bool]:
    """Draw the cast, object and place of one story; returns (slots, hero_is_animal).

    ``tag`` restricts the object to those with that tag ("lose", "stuck", "share");
    ``outdoor`` excludes indoor places.
    """
    s = _Slots(rng)
    animal = rng.random() < 0.3
    _character(rng, "A", s, animal)
    _character(rng, "B", s, rng.random() < (0.6 if animal else 0.2), avoid=s["A"])
    pet = rng.choice(_PET_NAMES)
    while pet in (s["A"], s["B"]):
        pet = rng.choice(_PET_NAMES)
    s["PET"] = pet  # an unnamed-so-far dog or puppy in some scripts
    parent = rng.choice(tuple(_PARENTS))
    ppro = _PRONOUNS[_PARENTS[parent]]
    s["P"] = parent
    s["P_Cap"] = parent.capitalize()
    s["P_he"], s["P_him"], s["P_his"] = ppro["he"], ppro["him"], ppro["his"]
    s["P_He"] = ppro["he"].capitalize()
    objs = _OBJECTS_BY_TAG[tag]
    noun, adjs, _, plays, wish = rng.choice(objs)
    adj = rng.choice(adjs.split("|"))
    s["O"], s["O_adj"], s["O_a"] = noun, adj, _art(f"{adj} {noun}")
    s["O_play"] = rng.choice(plays.split("|")).format_map(s)
    s["O_wish"] = wish
    place = rng.choice(_PLACE_CHOICES[(animal, outdoor)])
    at, hides, highs, sights, _ = _PLACES[place]
    s["L"] = place
    s["L_at"] = at
    s["L_the"] = "the " + place
    s["L_The"] = "The " + place
    # One goes "to school" but "to the park".
    s["L_at_go"] = "to school" if place == "school" else "to the " + place
    s["H1"], s["H2"], s["H3"] = rng.sample(hides.split("|"), 3)
    s["HIGH"] = rng.choice(highs.split("|"))
    s["sight1"], s["sight2"] = rng.sample(sights.split("|"), 2)
    if animal:
        coats, features = _BODY[s["A_kind"]]
        s["coat"] = rng.choice(coats.split("|")).format_map(s)
        s["feature"] = rng.choice(features.split("|"))
    return s, animal


_OBJECTS_BY_TAG = {tag: tuple(o for o in _OBJECTS if not tag or tag in o[2].split())
                   for tag in ("", "lose", "stuck", "share")}
# Animal heroes stay in places an animal would be (flag v[4]).
_PLACE_CHOICES = {
    (animal, outdoor): tuple(p for p, v in _PLACES.items()
                             if (v[4] or not animal) and not (outdoor and p in _INDOOR))
    for animal in (False, True) for outdoor in (False, True)
}


def _say(rng: random.Random, s: _Slots, beat: str, k: int | None = None) -> str:
    """One variant of ``beat`` (the first ``k`` variants only, if given), filled in."""
    variants = _T[beat] if k is None else _T[beat][:k]
    return rng.choice(variants).format_map(s)


def _intro(rng: random.Random, s: _Slots, animal: bool, obj: float = 0.8,
           friend: float = 0.0) -> list[str]:
    """Opening: who the hero is, what they like; their toy and friend with the given
    probabilities."""
    out = [_say(rng, s, "open_animal" if animal else "open")]
    if rng.random() < 0.35:
        out.append(_say(rng, s, "looks_animal" if animal else "looks_child"))
    out.append(_say(rng, s, "trait"))
    if rng.random() < obj:
        out.append(_say(rng, s, "has_obj"))
    if rng.random() < friend:
        out.append(_say(rng, s, "friend_intro"))
    return out


def _outing(rng: random.Random, s: _Slots) -> list[str]:
    """Going out: sometimes breakfast and clothes first, then the trip and the scene."""
    out = []
    if rng.random() < 0.2:
        out.append(_say(rng, s, "routine"))
    out.append(_say(rng, s, "go_place"))
    if rng.random() < 0.25:
        out.append(_say(rng, s, "dress"))
    return out + _scene(rng, s)


def _scene(rng: random.Random, s: _Slots, k_max: int = 2) -> list[str]:
    """0..k_max descriptive sentences (distinct variants)."""
    k = rng.randint(0, k_max)
    return [v.format_map(s) for v in rng.sample(_T["scene"], k)]


Plot = tuple[list[str], _Slots]


def _plot_lost(rng: random.Random) -> Plot:
    s, animal = _setup(rng, "lose")
    out = _intro(rng, s, animal, obj=1.0, friend=0.3)
    out += _outing(rng, s)
    out.append(_say(rng, s, "play_obj"))
    out += [_say(rng, s, b) for b in ("lost_problem", "lost_feel", "lost_search")]
    i = rng.randrange(len(_T["lost_help"]))
    parent_helps = i == len(_T["lost_help"]) - 1  # the last variant brings the parent
    s["helper"] = f"{s['A_his']} {s['P']}" if parent_helps else s["B"]
    out.append(_T["lost_help"][i].format_map(s))
    out.append(_say(rng, s, "lost_found"))
    # The last "happy" variant is friend talk ("That is what friends do").
    out.append(_say(rng, s, "lost_happy", 3 if parent_helps else None))
    out.append(_say(rng, s, "lost_end", 4 if parent_helps else None))
    return out, s


def _plot_stuck(rng: random.Random) -> Plot:
    s, animal = _setup(rng, "stuck", outdoor=True)
    out = _intro(rng, s, animal, obj=1.0, friend=0.3)
    out += _outing(rng, s)
    out.append(_say(rng, s, "play_obj"))
    out.append(_say(rng, s, "stuck_problem"))
    out += [v.format_map(s) for v in rng.sample(_T["stuck_try"], rng.randint(1, 2))]
    out.append(_say(rng, s, "stuck_feel"))
    out.append(_say(rng, s, rng.choice(("stuck_help_stick", "stuck_help_parent", "stuck_help_animal"))))
    out += [_say(rng, s, "stuck_happy"), _say(rng, s, "stuck_end")]
    return out, s


def _plot_share(rng: random.Random) -> Plot:
    s, animal = _setup(rng, "share")
    out = _intro(rng, s, animal, obj=1.0, friend=1.0)
    if rng.random() < 0.6:
        out.append(_say(rng, s, "play_obj"))
    out += [_say(rng, s, "share_ask"), _say(rng, s, "share_refuse")]
    if rng.random() < 0.5:
        # Variant i of "share_break" goes with variant i of "share_parent" (broken ->
        # fixed, muddy -> cleaned).
        i = rng.randrange(len(_T["share_break"]))
        out += [_T["share_break"][i].format_map(s), _say(rng, s, "share_cry"),
                _T["share_parent"][i].format_map(s)]
    else:
        out += [_say(rng, s, "share_alone"), _say(rng, s, "share_change")]
    out += [_say(rng, s, "share_happy"), _say(rng, s, "share_end")]
    return out, s


def _plot_fear(rng: random.Random) -> Plot:
    s, animal = _setup(rng)
    out = _intro(rng, s, animal, obj=0.0)
    script = rng.choice(_FEARS)
    out += [line.format_map(s) for line in script[:3]]
    if rng.random() < 0.5:
        out.append(_say(rng, s, "fear_comfort"))
    out += [line.format_map(s) for line in script[3:]]
    out.append(_say(rng, s, "fear_end"))
    return out, s


def _plot_help(rng: random.Random) -> Plot:
    s, animal = _setup(rng, outdoor=True)
    creature, *script = rng.choice(_ANIMAL_HELP)
    s["creature"] = creature
    out = _intro(rng, s, animal, obj=0.0)
    out.append(_say(rng, s, "help_find"))
    out += _scene(rng, s, 1)
    out += [line.format_map(s) for line in script]
    out.append(_say(rng, s, "help_end"))
    return out, s


def _plot_gift(rng: random.Random) -> Plot:
    s, animal = _setup(rng)
    gift, make, mishap, fix = rng.choice(_GIFTS)
    s["gift"] = gift
    out = _intro(rng, s, animal, obj=0.0, friend=0.4)
    out.append(_say(rng, s, "gift_reason"))
    out += [make.format_map(s), mishap.format_map(s), _say(rng, s, "gift_ruined"), fix.format_map(s)]
    out += [_say(rng, s, b) for b in ("gift_give", "gift_love", "gift_end")]
    return out, s


def _plot_warn(rng: random.Random) -> Plot:
    s, animal = _setup(rng)
    s["W"], s["R"], s["want"], act, consequence = rng.choice(_WARNINGS)
    out = _intro(rng, s, animal, obj=0.0)
    out += [_say(rng, s, "warn_say"), _say(rng, s, "warn_listen"), act.format_map(s),
            consequence.format_map(s), _say(rng, s, "warn_sorry"), _say(rng, s, "warn_end")]
    return out, s


def _plot_new_friend(rng: random.Random) -> Plot:
    s, animal = _setup(rng, outdoor=True)
    out = _intro(rng, s, animal, obj=0.7)
    out.append(_say(rng, s, "new_lonely"))
    out += [_say(rng, s, "new_meet"), _say(rng, s, "new_hello")]
    if rng.random() < 0.4:
        out.append(_say(rng, s, "scene", 4))  # the first four scene variants fit any moment
    out += [_say(rng, s, "new_common"), _say(rng, s, "new_problem"), _say(rng, s, "new_end")]
    return out, s


def _plot_skill(rng: random.Random) -> Plot:
    s, animal = _setup(rng)
    skill, setup, fail = rng.choice(_SKILLS)
    s["skill"] = skill.replace("my ", s["A_his"] + " ")
    out = _intro(rng, s, animal, obj=0.0, friend=0.5)
    out += [setup.format_map(s), fail.format_map(s), _say(rng, s, "skill_fail_feel"),
            _say(rng, s, "skill_encourage"), _say(rng, s, "skill_practice")]
    if rng.random() < 0.5:
        out.append(_say(rng, s, "skill_again"))
    out += [_SKILL_SUCCESS[skill].format_map(s), _say(rng, s, "skill_proud"),
            _say(rng, s, "skill_end")]
    return out, s


def _plot_rain(rng: random.Random) -> Plot:
    s, animal = _setup(rng, outdoor=True)
    indoor = rng.choice(_POOLS["indoor"])
    s["indoor"], s["indoor_past"] = indoor, _INDOOR_PAST[indoor]
    out = _intro(rng, s, animal, obj=0.5, friend=0.7)
    out += [_say(rng, s, b) for b in ("rain_plan", "rain_start", "rain_sad", "rain_idea", "rain_fun")]
    if rng.random() < 0.5:
        out.append(_say(rng, s, "rain_snack"))
    out.append(_say(rng, s, "rain_end"))
    return out, s


def _plot_race(rng: random.Random) -> Plot:
    s, animal = _setup(rng, outdoor=True)
    out = _intro(rng, s, animal, obj=0.0, friend=0.7)
    # The last "race_start" variant is an animal race.
    out.append(_say(rng, s, "race_start", None if animal else 2))
    out += [_say(rng, s, b) for b in ("race_run", "race_fall", "race_choice", "race_help", "race_end")]
    return out, s


def _plot_seed(rng: random.Random) -> Plot:
    s, animal = _setup(rng)
    seed = rng.choice(tuple(_SEEDS))
    s["seed"], s["seed_a"] = seed, _art(seed)
    out = _intro(rng, s, animal, obj=0.0)
    out += [_say(rng, s, b) for b in ("seed_get", "seed_plant", "seed_wait", "seed_impatient")]
    if rng.random() < 0.6:
        out.append(_say(rng, s, "seed_trouble"))
    out += [_say(rng, s, "seed_sprout"), _say(rng, s, "seed_grow"), _SEEDS[seed].format_map(s),
            _say(rng, s, "seed_end")]
    return out, s


def _plot_map(rng: random.Random) -> Plot:
    s, animal = _setup(rng, outdoor=True)
    out = _intro(rng, s, animal, obj=0.0, friend=0.6)
    out += [_say(rng, s, "map_find"), _say(rng, s, "map_go")]
    out += _scene(rng, s, 1)
    out += [_say(rng, s, b) for b in ("map_clue", "map_count", "map_dig", "map_open")]
    if rng.random() < 0.4:
        out.append(_say(rng, s, "snack_time"))
    out.append(_say(rng, s, "map_end"))
    return out, s


def _plot_mess(rng: random.Random) -> Plot:
    s, animal = _setup(rng, "lose")
    out = _intro(rng, s, animal, obj=0.7)
    out += [_say(rng, s, b) for b in ("mess_state", "mess_problem", "mess_parent")]
    s["room_thing"], s["room_thing2"], s["room_thing3"] = rng.sample(_POOLS["room_thing"], 3)
    # Two cleaning sentences, in template order (the "First, ..." variant comes first).
    out += [_T["mess_clean"][i].format_map(s) for i in sorted(rng.sample(range(3), 2))]
    out += [_say(rng, s, "mess_find"), _say(rng, s, "mess_end")]
    return out, s


def _plot_shop(rng: random.Random) -> Plot:
    s, animal = _setup(rng)
    dish = rng.choice(tuple(_DISHES))
    s["dish"] = dish
    s["item"], s["item2"], s["item3"] = rng.sample(_DISHES[dish].split("|"), 3)
    s["item_cap"] = s["item"].capitalize()
    out = _intro(rng, s, animal, obj=0.3)
    out += [_say(rng, s, b) for b in ("shop_need", "shop_list", "shop_walk")]
    # Variant i of "shop_trouble" is resolved by variant i of "shop_fix".
    i = rng.randrange(len(_T["shop_trouble"]))
    out += [_T["shop_trouble"][i].format_map(s), _T["shop_fix"][i].format_map(s),
            _say(rng, s, "shop_home")]
    return out, s


_PLOTS: tuple[Callable[[random.Random], Plot], ...] = (
    _plot_lost, _plot_stuck, _plot_share, _plot_fear, _plot_help, _plot_gift,
    _plot_warn, _plot_new_friend, _plot_skill, _plot_rain, _plot_race, _plot_seed,
    _plot_map, _plot_mess, _plot_shop,
)


def _story(rng: random.Random) -> str:
    sentences, s = rng.choice(_PLOTS)(rng)
    if rng.random() < 0.4:
        sentences.append(_say(rng, s, "goodnight"))
    return " ".join(_cap(x) for x in sentences)


def generate_stories(seed: int, n_words: int) -> list[str]:
    """Return stories (one string each, no blank lines inside a story) whose total
    whitespace-separated word count is at least n_words. Deterministic in seed.

    Args:
        seed: any integer; drives a private ``random.Random(seed)``.
        n_words: minimum total number of whitespace-separated words (>= 0).

    Returns:
        A list of single-line stories, typically 100-250 words each. For a fixed seed the
        stories for a smaller ``n_words`` are a prefix of those for a larger one.

    Raises:
        ValueError: if ``seed`` is not an int or ``n_words`` is not a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if isinstance(n_words, bool) or not isinstance(n_words, int) or n_words < 0:
        raise ValueError(f"n_words must be a non-negative int, got {n_words!r}")
    rng = random.Random(seed)
    stories: list[str] = []
    total = 0
    while total < n_words:
        story = _story(rng)
        stories.append(story)
        total += story.count(" ") + 1  # single spaces only, so this is len(story.split())
    return stories


# ---------------------------------------------------------------------------
# Vocabulary: every word any template or list can produce
# ---------------------------------------------------------------------------

_STRIP = string.punctuation.replace("'", "") + "'"


def words_of(text: str) -> list[str]:
    """Lowercased words of ``text``: split on whitespace, punctuation stripped from both
    ends (apostrophes inside a word are kept, as in "don't"); empty pieces dropped."""
    out = []
    for w in text.lower().split():
        w = w.strip(_STRIP)
        if w:
            out.append(w)
    return out


def _all_texts():
    """Every literal string the generator can emit pieces of (placeholders removed)."""
    yield from CHARACTER_NAMES
    yield from _ANIMAL_KINDS
    yield from _CHAR_ADJS
    yield from ("a", "an", "the", "girl", "boy", "she", "he", "her", "him", "his", "herself", "himself",
                "to", "school")
    yield from _PARENTS
    yield from _GROWNUPS
    for o in _OBJECTS:
        yield from o[:2]
        yield from o[3:]
    for place, v in _PLACES.items():
        yield place
        yield from v[:4]
    for pool in _POOLS.values():
        yield from pool
    for variants in _T.values():
        yield from variants
    for table in (_FEARS, _ANIMAL_HELP, _GIFTS, _WARNINGS, _SKILLS):
        for row in table:
            yield from row
    yield from _INDOOR_PAST.values()
    yield from _SEEDS
    yield from _SEEDS.values()
    yield from _DISHES
    yield from _DISHES.values()
    for body in _BODY.values():
        yield from body
    yield from _SKILL_SUCCESS.values()


_PLACEHOLDER = re.compile(r"\{[^}]*\}")
VOCABULARY: frozenset[str] = frozenset(
    w for text in _all_texts() for w in words_of(_PLACEHOLDER.sub(" ", text.replace("|", " ")))
)
