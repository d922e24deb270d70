"""The sentence templates and plots of the synthetic stories (the text; ``synthetic.py`` is the engine).

Template language
-----------------
``[a|b|c]``  one alternative, uniformly (``[a|]``: optional); groups nest.
``{key}``    a story slot or a fresh word draw:
             story slots (drawn once per story, see ``synthetic._cast``):
               ``A`` hero, ``B`` friend, ``P`` grown-up (``P_Cap`` "Mom" when spoken to); for each
               of A, B, P: ``_he _him _his _self _kind`` ("girl", "fox") ``_adj`` ("kind");
               ``O`` the story's object with ``O_adj``, ``O_color``; ``X2`` a second thing with
               ``X2_adj``; ``F`` a food (``F_s`` plural, ``F_adj``); ``L_the`` / ``L_at`` a place
               ("the park" / "at the park"); ``H1 H2 H3`` spots there; ``C`` an animal to meet
               (``C_s``, ``C_adj``, ``C_moved``); ``V`` a verb for the object (``V_ed``); ``J`` an
               adjective; ``ACT`` an activity (``ACT_ed``, ``ACT_ing``); ``PET`` a pet's name
               (``PET_kind``, ``PET_his``); ``home``; ``SK`` a skill; ``W`` a danger; ``SND`` a noise;
             fresh draws (every occurrence a new word, see ``synthetic._FRESH``): ``thing(s)``,
               ``animal(s)``, ``food(s)``, ``plant(s)``, ``sound``, ``adj``, ``yum`` (food
               adjective), ``char_adj``, ``color``, ``adverb``, ``move/moved/moving``,
               ``handle/handled``, ``activity/activity_ed/activity_ing``, ``spot``, ``spot_in``,
               ``place``, ``girl``, ``boy``, ``pet_name``, and the feelings ``happy sad scared
               angry surprised``.
``<macro>``  shorthand for a common group, replaced before parsing (``MACROS``).

Slots are lowercase; the engine capitalises sentence starts and turns "a" into "an" where needed.
After a closing quote a new sentence must start with a capital in the template ("... look." Then
{A_he} ...), because a lowercase word there reads as a speech tag ("..." {A_he} said).
"""

from __future__ import annotations

MACROS = {
    "<town_adj>": "[small|quiet|busy|sunny|little|faraway|snowy|green|pretty|big]",
    "<day>": "[One day|One morning|One sunny day|One afternoon|One bright morning|One warm day|Once|"
             "One evening|One Saturday|On a cold morning|One summer day|One day in spring|One fine day|"
             "Early one morning|One windy day|One autumn day|On a snowy day|One Sunday]",
    "<later>": "[After a while|Soon|Later|A little later|Before long|After lunch|That afternoon|"
               "After some time|A few minutes later]",
    "<sudden>": "[Suddenly|All of a sudden|Just then|Then|Out of nowhere]",
    "<then>": "[Then|After that|Next|Soon|And then]",
    "<went>": "[went|walked|ran|hurried|skipped|{moved}]",
    "<saw>": "[saw|spotted|noticed|found]",
    "<said>": "[said|replied|answered|called|whispered|shouted]",
    "<asked>": "[asked|wondered|said]",
    "<big>": "[big|large|huge|giant|great big|very big]",
    "<little>": "[little|small|tiny|little tiny]",
    "<very>": "[very|so|really|super]",
    "<nice>": "[nice|good|lovely|wonderful|great|fun]",
    "<some>": "[some|a few|lots of|many|two|three]",
    "<smiled>": "[smiled|grinned|beamed|laughed|giggled]",
    "<looked>": "[looked|peeked|searched|checked]",
    "<friend>": "[friend|best friend|good friend|pal|buddy]",
    "<hug>": "[a big hug|a hug|a warm hug|a tight hug|a squeeze]",
    "<thing>": "[{adj} |{color} |{adj} {color} |]{thing}",
    "<things>": "[{adj} |{color} |]{things}",
    "<animal>": "[{char_adj} |{color} |little |big |]{animal}",
    "<animals>": "[{char_adj} |{color} |]{animals}",
    "<plant>": "[{adj} |{color} |]{plant}",
    "<plants>": "[{color} |{adj} |]{plants}",
    "<O>": "[{O_adj} |{O_color} |]{O}",
    "<X2>": "[{X2_adj} |]{X2}",
    "<food>": "[{yum} |]{food}",
    "<foods>": "[{yum} |]{foods}",
}

BEATS: dict[str, tuple[str, ...]] = {}


def _t(name: str, *templates: str) -> None:
    BEATS[name] = templates


# ---- openings and the cast, shared by every plot ----
_t("open",
   "Once upon a time, there was a {A_adj} {A_kind} named {A}.",
   "Once upon a time, there was a [little|young|] {A_kind} called {A}. {A_he} lived {home}.",
   "There once was a {A_adj} {A_kind} named {A} who lived {home}.",
   "{A} was a {A_adj} {A_kind}. {A_he} [lived|lived with {A_his} {P}] {home}.",
   "Once there was a {A_adj} {A_kind}. {A_his} name was {A}.",
   "In a <town_adj> [town|village|little house|place far away], there lived a {A_adj} {A_kind} named {A}.",
   "{A} was a {A_adj} {A_kind} [who loved {things}|who liked <things>|with a <thing>|who was {A_age} years old|who lived {home}].",
   "<day>, a {A_adj} {A_kind} named {A} [woke up early|looked out of the window|went outside|jumped out of bed|put on {A_his} {color} shoes].",
   "{A} was [{A_age} years old|a {A_adj} {A_kind}], and {A_he} [loved|liked] {things} [and {things}|more than anything].",
   "Not long ago, {home}, there was a {A_kind} named {A}. {A_he} was [very|always|] {A_adj}.",
   "Once upon a time, in a <town_adj> [house|town|village], there was a {A_kind} named {A}.",
   "There was once a {A_adj} {A_kind}. Everyone called {A_him} {A}.",
   "{A} was a {A_adj} {A_kind} who [always|often|never] wanted to {ACT}.",
   "Once upon a time, a {A_adj} {A_kind} named {A} lived {home} with {A_his} {P} and a {PET_kind} named {PET}.",
   "Long ago, {home}, lived a {A_kind} called {A}. {A_he} had [big|bright|curious|sleepy] {color} eyes.",
   "This is a story about a {A_adj} {A_kind} named {A} and {A_his} {O}.",
   "{A} was {A_age}. {A_he} was a {A_adj} {A_kind}, and {A_he} lived {home}.",
   "Once upon a time, there was a {A_kind} named {A} who [did not like|was afraid of|loved] {things}.",
   "In a [big|small|quiet|busy] [house|town|forest|garden] lived a {A_kind} named {A}. {A_he} was {A_adj} and {char_adj}.",
   "<day>, the sun came up over [the hills|the town|the trees|the sea], and a {A_adj} {A_kind} named {A} opened {A_his} eyes.")
_t("trait",
   "{A_he} loved to {ACT}.",
   "{A_he} liked to {ACT} and {activity}.",
   "More than anything, {A} loved to {ACT}[ with {A_his} {P}| with {A_his} friends|].",
   "Every day, {A} would {ACT}[ {L_at}| after breakfast| before bed| in the garden|].",
   "{A_his} favorite thing to do was to {ACT}[, but {A_he} also liked to {activity}|].",
   "{A_he} was [very|always|quite] {char_adj} and [very|] {char_adj}.",
   "{A_he} had a [pet|little|] {PET_kind} named {PET}[ who followed {A_him} everywhere| who liked {foods}|].",
   "{A_he} liked {things}, {things} and {things}.",
   "{A} was good at {ACT_ing}, but {A_he} was not good at {activity_ing}.",
   "{A_his} room was full of {things} and <things>[, and {A_he} loved them all|].",
   "{A} had [two|three|four] [brothers|sisters|cousins] and a {PET_kind} called {PET}.",
   "[The|All the] [other kids|children] [said|thought] that {A} was {char_adj}, but {A_he} was really {A_adj}.",
   "Every morning, {A} ate {foods} and then went out to {ACT}.",
   "{A} wanted to be a [doctor|farmer|baker|teacher|pilot|painter|singer] when {A_he} grew up.",
   "{A_his} {P} always said that {A} was [the best|the kindest|the funniest|the sweetest|the bravest] {A_kind} in the world.",
   "The thing {A} liked best was to {ACT} with {A_his} {P} on the weekend.",
   "{A} did not like {foods}, but {A_he} loved {foods}.",
   "{A} knew the names of all the {animals} in the garden.",
   "When {A} was happy, {A_he} liked to sing about {things} and {animals}.")
_t("has_obj",
   "{A_he} had a {O_adj} {O} that {A_he} loved [very much|so much|more than anything].",
   "{A_his} [most special|favorite] thing was a {O_adj} {O_color} {O}.",
   "{A} had a {O_adj} {O}. It was {A_his} favorite thing in the [whole|] world.",
   "{A_his} {P} had given {A_him} a {O_adj} {O}[ for {A_his} birthday|], and {A_he} [loved|liked] it.",
   "{A} always had {A_his} {O_color} {O} with {A_him}[, even at dinner| wherever {A_he} went|].",
   "{A} had a {O}. It was {O_color} and {O_adj}, and it [made a little {sound} when {A_he} shook it|shone in the sun|was as {adj} as a {thing}].",
   "[Once|Last week|One day], {A} had found a {O_adj} {O} {spot}. {A_he} kept it [in a box|by {A_his} bed|in {A_his} pocket].",
   "{A}'s {O} was {O_color}[ and {O_adj}|], with [little|tiny|big] {things} on it.",
   "The {O} was old, but to {A} it was the best {O} in the world.",
   "{A} took the {O} to the park, to the store and even to the bath.",
   "Every night, {A} put the {O} next to {A_his} bed and said good night to it.",
   "The {O} had a [little|small|tiny] [scratch|spot|mark] on it, and {A} loved it anyway.")
_t("friend",
   "{A} had a <friend> named {B}.",
   "{A_his} <friend> was a {B_adj} {B_kind} named {B}.",
   "{A} had a [good|best|] friend, a {B_kind} called {B}.",
   "{B} was {A_his} <friend>. [They|{A} and {B}] liked to {activity} together.",
   "{A} lived next door to a {B_adj} {B_kind} named {B}.",
   "{A} and {B} [had been friends for a long time|went to the same school|met every day {L_at}].",
   "{A}'s <friend> {B} was a {B_kind} who [loved {things}|was {B_adj}|could {activity}].",
   "{B} and {A} did everything together. They liked to {activity} and to {activity}.",
   "{A} often played with {B}, a {B_adj} {B_kind} from down the street.",
   "Every day after lunch, {A} went to see {A_his} <friend> {B}.",
   "{B} was a {B_kind} with a [loud|soft|funny|big] laugh, and {A} liked {B_him} very much.")
_t("go_place",
   "<day>, {A} <went> to {L_the}[ with {A_his} {P}| with {B}|].",
   "<day>, {A} and {A_his} {P} <went> to {L_the}[ to {activity}|].",
   "<day>, {A} took {A_his} {O} to {L_the}.",
   "<day>, {A} asked, \"{P_Cap}, can we go to {L_the}?\" \"[Yes, we can|Of course|Okay, let's go],\" said {A_his} {P}.",
   "<day>, {A_his} {P} said, \"Let's go to {L_the} today!\" {A} was {happy}.",
   "<day>, {A} woke up [early|before the sun|with a smile]. {A_he} wanted to go to {L_the}.",
   "<day>, the sun was [shining|warm|bright] and {A} wanted to play outside. {A_he} <went> to {L_the}.",
   "<day>, {A} packed {A_his} {O}, a {food} and a {thing}, and set off for {L_the}.",
   "<day>, {A} and {B} [met|played|had a picnic] {L_at}. They [brought|had] {foods} and {things}.",
   "<day>, {A} and {A_his} {P} packed a [bag|basket|lunch] and went to {L_the}.",
   "<day>, {A} [put on {A_his} shoes|grabbed {A_his} {O}|said goodbye to {PET}] and ran to {L_the}.",
   "<day>, {A} asked {B} to come to {L_the}. They walked there together, talking about {things}.",
   "After breakfast, {A} went to {L_the} to {activity}.",
   "It was a [sunny|warm|bright|windy|lovely|cool|perfect] day, so {A_his} {P} took {A} to {L_the}.")
_t("scene",
   "[The sun was shining|It was a warm and sunny day|A soft wind was blowing|The sky was blue|The air was fresh and cool|The birds were singing] [and|but] [the {plants} were {color}|the grass was wet|there were <plants> everywhere|{A} could hear {sound}s far away].",
   "{A} <saw> a <animal> {moving} [across the path|near the water|in the grass|under a {plant}|by a big rock|along the fence].",
   "{A} <saw> <animals> and {animals}[ and a <plant>|].",
   "There were <some> <plants> [near the path|by the fence|everywhere|in the grass].",
   "{A_he} heard a {adj} {sound}. It was just a <animal>.",
   "On the way, {A} <saw> a <animal> [eating|carrying|sniffing|looking at] a <thing>.",
   "{A} stopped to watch a {char_adj} {animal} {moving} [by|past|around] a <plant>.",
   "{A_he} could see <animals> [far away|on the hill|in the sky|by the water].",
   "[It smelled like {foods}|It smelled of {plants} and rain|The wind smelled sweet] {L_at}.",
   "{L_the} was [full of|busy with] <animals> and {animals}.",
   "[Near|Behind|Next to] the {plant}, a {char_adj} {animal} was [sleeping|eating a {food}|looking at a {thing}].",
   "The [path|road|trail] went past a <plant>, a <thing> and [an old|a {adj}] [gate|fence|bench|wall].",
   "The {plants} at {L_the} were [tall|green|{color}], and the {animals} were [busy|quiet|loud].",
   "{L_the} was [big|quiet|busy|beautiful]. There were {animals} [everywhere|by the water|in the trees].",
   "The wind blew the {plants}, and a <animal> ran to hide {spot}.",
   "[Some|Two|Three] {animals} were {moving} [around the {plant}|along the path|in the sun].")
_t("play",
   "{A} played with {A_his} <O>. {A_he} {V_ed} it [and|] {handled} it.",
   "{A} {V_ed} the {O} {adverb}. {A_he} was having [so much|a lot of] fun.",
   "First, {A} {activity_ed}. Then {A_he} {V_ed} {A_his} <O>. {A_he} laughed and laughed.",
   "\"This is [fun|the best]!\" {A} said, and {A_he} {V_ed} the {O} again.",
   "{A} and {B} {activity_ed} [{L_at}|together|all morning].",
   "{A} {ACT_ed} [for a long time|until {A_he} was tired|with a big smile].",
   "{A} {V_ed} the {O} [and|while] {PET} the {PET_kind} [watched|barked|jumped around].",
   "{A} made up a game with the {O}, a <thing> and [two|three] {things}.",
   "{A} ran around with the {O} and showed it to [every|a] {animal} {A_he} met.",
   "They played a game where the {O} was a {thing} and {A} was a {char_adj} {animal}.",
   "{A} and {PET} played with the {O} in the grass until they were both tired.",
   "{A} threw the {O} [up high|far away|to {B}], and then {A_he} ran to get it.")

# ---- plot: a lost object ----
_t("lost_problem",
   "<later>, {A} looked around and the {O} was gone!",
   "When it was time to go home, {A} could not find {A_his} <O>.",
   "<sudden>, {A} saw that {A_his} {O} was not there [anymore|any more].",
   "{A} put the {O} down to {activity}. When {A_he} came back, it was gone!",
   "<later>, {A} reached for {A_his} {O}, but it was not there.",
   "{A} [turned around|looked down|opened {A_his} bag] and [gasped|froze]. The {O} was gone!",
   "When {A} came back from the {plant}, the {O} was not [on the bench|on the grass|in {A_his} bag] anymore.",
   "{A} went to {V} the {O}, but {A_his} hands were empty. Where was it?")
_t("lost_feel",
   "{A} felt {sad}. \"Where is my {O}?\" {A_he} {cried}.",
   "\"Oh no! My {O} is lost!\" {A} {cried}. {A_he} felt {sad}.",
   "{A} was {sad}. {A_he} loved that {O_adj} {O} so much.",
   "Tears came to {A_his} eyes. \"I want my {O},\" {A_he} said.",
   "{A} was {sad}. \"Now I can't {V} my {O} anymore,\" {A_he} said.",
   "{A_his} [lip|chin] [shook|wobbled]. \"It was my [favorite|special|only] {O},\" {A_he} [said|whispered].",
   "{A} sat down and cried. \"I have looked everywhere,\" {A_he} said.",
   "Without the {O}, {L_the} did not feel fun anymore.")
_t("lost_search",
   "{A} <looked> {H1}. {A_he} <looked> {H2}, too. But the {O} was not there.",
   "{A_he} <looked> {H1}, but {A_he} did not find it. {A_he} only found a <thing>.",
   "{A} searched {H1} and {H2}. It was nowhere to be seen.",
   "{A} looked everywhere. {A_he} looked {H1} and {H2}, but there was no {O}.",
   "{A} asked a {char_adj} {animal}, \"Have you seen my {O}?\" The {animal} [shook its head|did not know|just blinked].",
   "{A} <looked> {H1}. There was a <thing> and [some|two] {things}, but no {O}.",
   "{A} <looked> behind every {plant} and under every {thing}, but the {O} was not there.",
   "{A} and {PET} searched {H1}, {H2} and even {spot}.")
_t("lost_help",
   "Then {B} came by. \"Why are you {sad}, {A}?\" {B_he} asked. {A} told {B} about the {O}. \"I will help you look,\" said {B}.",
   "Just then, {A_his} friend {B} came over. \"What is wrong?\" asked {B}. \"I lost my {O},\" said {A}. \"Don't worry, we will find it together,\" said {B}.",
   "{B} saw that {A} was {sad}. \"Can I help?\" {B_he} asked. {A} nodded. \"Yes, please. I lost my {O_color} {O}.\"",
   "{A_his} {P} came to see what was wrong. \"Let's look for it together,\" said {A_his} {P}.",
   "{B} the {B_kind} [heard|saw] {A} and [ran|came|{moved}] over. \"[Two|Four] eyes are better than two,\" {B_he} said.",
   "A {char_adj} {C} heard {A} crying. \"I saw something {O_color} {H3},\" it said.",
   "{A_his} {P} said, \"Let's go back to every place you were today.\"")
_t("lost_found",
   "They looked together. [Finally|At last], {B} saw something {O_color} {H3}. It was the {O}!",
   "They <looked> {H3}. And there it was! The {O} was hiding {H3}.",
   "<sudden>, {B} pointed {H3}. \"Look, {A}! There it is!\" It was the {O}!",
   "They looked and looked. [Finally|At last], {A} found the {O} {H3}. A {C} had taken it there!",
   "{PET} the {PET_kind} came running with something in {PET_his} mouth. It was the {O}!",
   "[Finally|At last], they heard a [little|soft] {sound} {H3}. A {C_adj} {C} was [sitting on|playing with] the {O}!",
   "{B} lifted a {thing}, and under it was the {O}, a little [dirty|wet|dusty] but safe.",
   "There, {H3}, next to a {plant}, was the {O}!")
_t("lost_happy",
   "{A} was {happy}. \"Thank you so much!\" {A_he} said, and gave {B} <hug>.",
   "{A} <smiled>. \"My {O}! I found it!\" {A_he} said.",
   "{A} held the {O} close. \"I will never lose you again,\" {A_he} [said|whispered].",
   "\"Thank you for helping me,\" said {A}. \"That is what friends do,\" said {B}.",
   "{A} jumped up and down. \"Hooray!\" {A_he} {shouted}, and {A_he} {V_ed} the {O} [again|right away].",
   "{A} hugged the {O} and then hugged {B}. \"You are the best!\" {A_he} said.",
   "\"We found it!\" {A} and {B} shouted together.")
_t("lost_end",
   "From that day on, {A} always kept {A_his} {O} close.",
   "{A} learned to be careful with the things {A_he} loves.",
   "They {V_ed} the {O} together until the sun went down.",
   "After that, {A} never left {A_his} {O} {H1} again.",
   "{A} learned that it is good to have friends who help.",
   "[That night|After that], {A} [made a little bed for the {O}|put the {O} in a safe place|tied a {color} ribbon on the {O}].",
   "{A} made a [tag|label|ribbon] for the {O} with {A_his} name on it, just in case.")

# ---- plot: something stuck up high ----
_t("stuck_problem",
   "<sudden>, a strong wind came. It blew the {O} up into a {tree}!",
   "{A} threw the {O} too high. It landed on the roof of the {shed} and got stuck.",
   "Then a <big> gust of wind took the {O} away. It flew up and got stuck in a {tree}.",
   "{A} tossed the {O} into the air, but it did not come down. It was stuck in the {tree}!",
   "{A} {V_ed} the {O} so hard that it flew [over the fence|up into the {tree}|onto the {shed}].")
_t("stuck_try",
   "{A} jumped as high as {A_he} could, but {A_he} could not reach it.",
   "{A} tried to climb up, but it was too high.",
   "{A} threw a <thing> at it, but the {O} did not come down.",
   "{A} stood on {A_his} toes and stretched {A_his} arms, but it was no use.",
   "{A} waited and waited, but the {O} stayed stuck.",
   "{A} [got|found] a [long|] stick and [poked|waved] at it, but the stick was too short.")
_t("stuck_feel",
   "{A} felt {sad}. \"My {O} is stuck! How will I get it down?\" {A_he} said.",
   "\"Oh no!\" {A} {cried}. \"I want my {O} back!\"",
   "{A} sat down on the grass. {A_he} was {sad} and did not know what to do.",
   "\"I just wanted to {V} my {O},\" said {A}, and {A_he} started to cry.",
   "{A} looked up at the {O}. \"Please come down,\" {A_he} said. But the {O} did not move.")
_t("stuck_help",
   "Then {B} came by. \"I have an idea!\" said {B}. {B_he} found a long stick and poked the {O}. It fell right down!",
   "{B} saw the {O} and said, \"Let's use a long stick!\" Together, they pushed the {O} with a stick until it fell down.",
   "{A} ran to get {A_his} {P}. {P_he} brought a ladder, climbed up and got the {O} down.",
   "Then a kind {C} [flew|climbed] up to the {O}. It pushed the {O} with its [nose|beak|paw], and the {O} fell down.",
   "Then the wind blew again, and the {O} came gently down into {A_his} arms.",
   "{B} stood on {A}'s shoulders. [Wobble, wobble|Up, up, up]! {B_he} grabbed the {O} and they both fell into the grass, laughing.")
_t("stuck_end",
   "{A} was {happy} to have {A_his} {O} back. \"Thank you!\" {A_he} said.",
   "After that, {A} was more careful when {A_he} {V_ed} {A_his} {O}.",
   "{A} learned that when you have a problem, it is good to ask for help.",
   "They played together for the rest of the day, far away from the {tree}.",
   "{A} gave {B} <hug>. \"You are the best [friend|helper] ever,\" {A_he} said.")

# ---- plot: sharing ----
_t("share_ask",
   "<day>, {B} came to play. {B} saw the {O} and asked, \"Can I play with your {O}, please?\"",
   "<day>, {A} was playing with {A_his} <O> {L_at}. {B} came over. \"Can I have a turn?\" asked {B}.",
   "<day>, {A} and {B} were playing {L_at}. {B} wanted to {V} the {O}, too.",
   "<day>, {B} saw {A}'s {O} and [said|cried], \"Wow! Can I hold it?\"")
_t("share_refuse",
   "\"No!\" said {A}. \"It is mine!\" {A} held the {O} tight.",
   "{A} did not want to share. \"No, you can't have it,\" {A_he} said.",
   "\"It is my {O}. I want to {V} it by myself,\" said {A}.",
   "{A} hid the {O} behind {A_his} back. \"[Go away|Not now|Maybe later],\" {A_he} said.")
_t("share_fight",
   "{B} tried to take the {O}. {A} pulled it back. They pulled and pulled, and then the {O} broke!",
   "They both grabbed the {O}. It slipped and fell into a puddle of mud. Now it was all dirty.",
   "{A} and {B} pulled the {O} back and forth. {SUDDEN}, there was a loud {sound}. The {O} was broken!",
   "{B} grabbed the {O} and ran. {A} ran after {B_him}, and they both fell [in the mud|into a bush|on the grass].")
_t("share_sad",
   "Both of them started to cry.",
   "{A} and {B} were both {sad}. Now nobody could play with the {O}.",
   "{B} walked away, {sad}. {A} played with the {O} alone, but it was not much fun.",
   "{B} sat down by {B_self}. {A} {V_ed} the {O}, but soon {A_he} felt lonely.",
   "{A} had the {O}, but {A_he} did not feel {happy}. {A_he} felt [bad|lonely|empty] inside.")
_t("share_fix",
   "{A_his} {P} came to see what was wrong. {P_he} [fixed|cleaned] the {O} and said, \"If you share, you can both have fun.\"",
   "{A} thought about it. Then {A_he} walked over to {B}. \"I am sorry,\" said {A}. \"Do you want to play with my {O}?\"",
   "{A} felt bad. {A_he} went to {B} and said, \"Here, you can have a turn.\"",
   "{A} looked at {B}. \"Let's {V} it together,\" {A_he} said.",
   "{A_his} {P} said, \"[Toys|Things] are more fun when we share them.\" {A} thought about it and nodded.")
_t("share_end",
   "{B} <smiled>. They took turns with the {O}, and they had lots of fun.",
   "\"Thank you, {A}!\" said {B}. They played together all afternoon.",
   "{A} learned that sharing makes everyone {happy}.",
   "From that day on, {A} always shared {A_his} {things} and {things}.",
   "{A} and {B} became best friends, and they shared everything, even {A_his} {O_adj} {O}.",
   "They took turns. {A} {V_ed} the {O}, and then {B} {V_ed} it. It was more fun together.")

# ---- plot: fear ----
_t("fear_start",
   "One night, {A} could not sleep. {A_his} room was very dark, and there was a {adj} shadow on the wall.",
   "One night, there was a <big> storm. The wind howled and the rain hit the window. {A} heard a loud {sound}.",
   "<day>, {A} was walking to {L_the}. A big {C} [ran up to|jumped out at|looked at] {A_him}.",
   "One night, {A} heard a strange noise {spot_in}. {SND}, {SND}, {SND}!",
   "<day>, {A} went to {L_the} with {A_his} {P}. There was a [tall slide|deep pond|dark cave|big hill|long bridge] there.",
   "<day>, {A}'s {P} said they would visit the [doctor|dentist|new school|big city]. {A} had never been there.")
_t("fear_feel",
   "{A} was {scared}. \"{P_Cap}!\" {A_he} {shouted}.",
   "{A} hid under {A_his} blanket. {A_he} felt {scared}.",
   "{A} did not want to go [near it|closer|in]. \"I am {scared},\" {A_he} said [in a small voice|quietly|to {PET}].",
   "{A_his} [knees|hands|legs] were shaking. {A_he} was too {scared} to move.",
   "\"What is that?\" {A} whispered. {A_he} was {scared}.",
   "{A}'s heart went [thump, thump, thump|boom, boom|very fast]. {A_he} held {A_his} {O} tight.")
_t("fear_comfort",
   "{A_his} {P} came and [sat on the bed|held {A_his} hand|gave {A_him} a hug]. \"It is okay to be scared,\" {P_he} said. \"But you are brave.\"",
   "{A_his} {P} turned on the light. \"Look, it is only a <thing>,\" {P_he} said [with a smile|softly|kindly].",
   "{B} [took|held] {A_his} hand. \"Let's be brave together,\" said {B}.",
   "\"Don't be afraid,\" said {A_his} {P}. \"{C_s} are [friendly|shy|gentle]. It just wants to say hello.\"",
   "{A_his} {P} said, \"When I was little, I was scared of {things} too.\"",
   "\"[Take a deep breath|Count to five|Think of something nice],\" said {A_his} {P}. {A} thought of {things} and {foods}.")
_t("fear_brave",
   "{A} took a deep breath and [looked again|went closer|counted to three]. It was just a <thing>!",
   "{A} held out {A_his} hand slowly. The {C} sniffed it and then licked it. It tickled!",
   "{A} closed {A_his} eyes and [went|jumped|stepped forward]. It was not so bad after all!",
   "They looked together. There, {spot_in}, was a <little> {animal} eating a crumb!",
   "{A} [stood up tall|lifted {A_his} chin] and said, \"I am not afraid of you!\" The {C} just [yawned|blinked|wagged its tail].")
_t("fear_end",
   "{A} [laughed|giggled|smiled]. {A_he} was not scared anymore.",
   "From that night on, {A} was a little braver.",
   "{A} learned that many things are not as scary as they look.",
   "{A} felt proud of {A_self} for being so brave. {A_he} hugged {PET} and went to sleep.",
   "Now, when {A} hears a {SND}, {A_he} just [smiles|laughs|says hello].")

# ---- plot: helping an animal ----
_t("help_find",
   "<day>, {A} was [walking|playing] {L_at} when {A_he} heard a [little|soft|sad] {sound}.",
   "<day>, {A} was playing {L_at}. {SUDDEN}, {A_he} saw something move {H1}.",
   "<day>, {A} went for a walk {L_at}. {A_he} found a <little> {C} {H1}.",
   "<day>, {A} and {B} were {ACT_ing} {L_at} when they heard a {sound} {H1}.")
_t("help_problem",
   "It was a <little> {C}. Its [leg|wing|paw] was hurt, and it could not [walk|fly|move].",
   "A baby {C} was stuck {H2}. It was {scared} and could not get out.",
   "It was a {C_adj} {C}. It was lost and could not find its mom.",
   "A small {C} was [cold|hungry|wet|tired] and all alone.",
   "The {C} had a <thing> stuck on its [head|foot|tail], and it could not get it off.")
_t("help_do",
   "{A} picked up the {C} very gently. \"Don't worry, I will help you,\" {A_he} said.",
   "{A} gave the {C} some <foods> and a little water. The {C} ate it all up.",
   "{A} ran home to get {A_his} {P}. Together, they [wrapped the {C} in a blanket|made a little bed in a box|fixed its {thing}].",
   "{A} moved the <thing> away, and the {C} [hopped|crawled|jumped|{moved}] out.",
   "{A} and {B} made a soft bed of {plants} for the {C}.",
   "{A} sang a [soft|little|quiet] song to the {C}, and it stopped shaking.")
_t("help_better",
   "After a few days, the {C} was [strong|better|well] again. It {C_moved} around {A} [in a circle|happily|three times].",
   "Soon, the {C}'s mom came. She [thanked|nuzzled] {A} and the two {C_s} went home together.",
   "The {C} looked at {A} with big {color} eyes. It seemed to say, \"Thank you.\"",
   "The next day, the {C} came back with a <thing> for {A}.",
   "The {C} {C_moved} away, but then it stopped and looked back at {A} one more time.")
_t("help_end",
   "{A} was proud that {A_he} had helped.",
   "{A} learned that it feels good to help others, even a <little> {C}.",
   "From then on, {A} and the {C} were friends.",
   "Every day after that, the {C} came to visit {A} {L_at}.",
   "{A} named the {C} {pet_name}, and {A_he} [never forgot|often thought about|drew pictures of] {pet_name}.")

# ---- plot: making a gift ----
_t("gift_reason",
   "<day>, {A} remembered that {A_his} {P} had a birthday [that day|soon|tomorrow].",
   "<day>, {A} wanted to make something special for {A_his} {P}.",
   "{A_his} {P} had been very busy all week, so {A} wanted to make {P_him} happy.",
   "<day>, {A} had an idea. \"I will make a gift for {P_Cap}!\" {A_he} said.",
   "{A}'s {P} was [sick in bed|sad|tired], and {A} wanted to make {P_him} smile.")
_t("gift_make",
   "{A} found some paper, glue and {color} crayons. {A_he} drew a <animal> and a {X2}.",
   "{A} picked <plants> and tied them with a {color} ribbon.",
   "{A} made a card with {things} and {things} on it. Then {A_he} wrote, \"I love you.\"",
   "{A} baked {DISH} with {B}. They put {color} sprinkles on top.",
   "{A} painted a {X2} {color} and {color}, with little {things} on it.",
   "{A} made a {X2} out of [boxes|paper|clay|sticks], {things} and a lot of glue.")
_t("gift_mishap",
   "But then {PET} the {PET_kind} jumped on the table, and the gift fell on the floor!",
   "But {A} spilled [water|juice|paint|milk] all over it. The gift was ruined!",
   "But the wind blew the gift away, and it landed in a puddle.",
   "Then {A} saw that one part was broken. {A} felt {sad}.",
   "But {B} sat on it by mistake. Squish! {B} said sorry [many times|again and again].")
_t("gift_fix",
   "{A} did not give up. {A_he} made a new one, even better than before.",
   "{B} helped {A} fix it with tape and glue. \"It looks great!\" said {B}.",
   "{A} dried it in the sun. It was a bit {adj}, but it was still pretty.",
   "{A} added a <thing> and some {things}. Now it looked even more special.")
_t("gift_give",
   "When {A_his} {P} came home, {A} gave {P_him} the gift. \"Surprise!\" {A_he} said.",
   "{A} ran to {A_his} {P} with the gift. \"This is for you!\" {A_he} said.",
   "{A} hid the gift behind {A_his} back. Then {A_he} said, \"Close your eyes, {P_Cap}!\"",
   "{A} put the gift [on the table|by the door|on {P_his} pillow] and waited.")
_t("gift_end",
   "{A_his} {P} <smiled>. \"This is the best gift ever!\" {P_he} said, and gave {A} <hug>.",
   "{A_his} {P} was {happy}. \"Thank you, {A}. I love it!\" {P_he} said.",
   "{A} learned that the best gifts come from the heart.",
   "{A} felt warm inside. Making someone happy made {A_him} happy, too.",
   "{A_his} {P} put the gift [on the wall|by the window|on a shelf], where everyone could see it.")

# ---- plot: not listening ----
_t("warn_say",
   "{A_his} {P} said, \"Don't go near the {W}, {A}. It is [not safe|dangerous|too deep|too hot].\"",
   "\"Stay away from the {W},\" said {A_his} {P}. \"You could get hurt.\"",
   "{A_his} {P} told {A_him}, \"You can play, but do not touch the {W}.\"",
   "\"Remember,\" said {A_his} {P}, \"the {W} is not a place to play.\"")
_t("warn_go",
   "But {A} did not listen. {A_he} wanted to see the {W} [up close|for {A_self}].",
   "{A} said, \"Okay.\" But then {A_he} forgot.",
   "{A} nodded, but when {A_his} {P} was not looking, {A_he} went to the {W} anyway.",
   "{A} thought, \"Just one little look.\" Then {A_he} {moved} to the {W}.",
   "{A} saw a <thing> by the {W}. {A_he} wanted it so much that {A_he} forgot what {A_his} {P} said.")
_t("warn_bad",
   "{A} slipped and fell [into the mud|on the rocks|into the cold water]. {A_his} {O} was [lost|broken|gone].",
   "{SUDDEN}, {A} [hurt {A_his} hand|got a big bump on {A_his} head|tore {A_his} {O}]. It hurt a lot, and {A_he} began to cry.",
   "A {adj} {C} came out from behind the {W} and chased {A} away. {A} lost {A_his} {O} on the way.",
   "{A} got stuck and could not get out. {A_he} {shouted} for help, but nobody came [for a long time|at first].")
_t("warn_after",
   "{A_his} {P} came running. \"Are you okay?\" {P_he} asked. {P_he} hugged {A} tight.",
   "\"I am sorry, {P_Cap},\" said {A}. \"I should have listened to you.\"",
   "{A} said sorry to {A_his} {P}. {P_he} said, \"I am glad you are okay.\"",
   "{A_his} {P} [cleaned|fixed] {A_his} [knee|hand|{O}] and did not say a word. {A} knew {A_he} had been wrong.")
_t("warn_end",
   "{A} learned to listen to {A_his} {P}.",
   "From that day on, {A} always listened when {A_his} {P} told {A_him} to be careful.",
   "{A} learned that rules are there to keep us safe.",
   "{A} never saw {A_his} {O} again. {A_he} was {sad} for a long time.",
   "The {O} was never the same again, and neither was {A}.")

# ---- plot: a new friend ----
_t("new_lonely",
   "{A} did not have any friends to play with. {A_he} felt lonely.",
   "{A} and {A_his} family had just moved to a new town. {A} did not know anyone.",
   "{A} liked to play alone, but sometimes {A_he} wished {A_he} had a friend.",
   "All the other kids were {activity_ing}, but {A} was too shy to join them.",
   "{A} {ACT_ed} by {A_self} every day. It was fun, but it was [quiet|lonely|a little boring].")
_t("new_meet",
   "<day>, {A} went to {L_the}. There {A_he} saw a {B_adj} {B_kind} sitting all alone.",
   "<day>, {A_his} {P} took {A_him} to {L_the}. {A} saw a {B_kind} who looked lonely, too.",
   "<day>, {A} was {L_at}. {SUDDEN}, a {B_adj} {B_kind} came up to {A_him}.",
   "<day>, a {B_adj} {B_kind} moved into the house next door. {A} watched from the window.")
_t("new_hello",
   "{A} was shy, but {A_he} said, \"Hello! My name is {A}. What is your name?\" \"I am {B},\" said the {B_kind}.",
   "\"Hi,\" said {A}. \"I'm {A}.\" The {B_kind} smiled. \"My name is {B}. Do you want to {activity}?\"",
   "\"Hello,\" said the {B_kind}. \"I am {B}. Can I play with you?\" {A} was {happy}. \"Yes!\" {A_he} said.",
   "{A} waved. The {B_kind} waved back. \"I like your {O},\" said the {B_kind}. \"I'm {B}.\"")
_t("new_play",
   "{A} and {B} both loved to {ACT}. They {ACT_ed} and {activity_ed} together.",
   "{B} showed {A} how to {activity}, and {A} showed {B} {A_his} {O}.",
   "They played [all day|until lunch|until the sun went down] {L_at}. They {activity_ed} and {activity_ed}.",
   "{B} had a <X2>, and {A} had a {O_adj} {O}. They {V_ed} them together.",
   "They found out that they both liked {things} and {foods}. \"Me too!\" they said at the same time.")
_t("new_problem",
   "Then it started to rain. They ran under a <plant> and laughed.",
   "Then {B} fell and hurt {B_his} knee. {A} helped {B_him} up. \"Thank you,\" said {B}.",
   "Then {B} had to go home. \"Will you come back tomorrow?\" asked {A}. \"Yes!\" said {B}.",
   "Then a {C} came and [took|stole|ran off with] their {X2}. They chased it together, laughing.")
_t("new_end",
   "From that day on, {A} and {B} were best friends.",
   "{A} was not lonely anymore. {A_he} had a new friend.",
   "{A} learned that saying hello can [make a new friend|change everything].",
   "Every day after that, {A} and {B} met {L_at} to {activity}.")

# ---- plot: learning something ----
_t("skill_want",
   "{A} wanted to learn to {SK}. {B} could already do it.",
   "<day>, {A_his} {P} said, \"Today you will learn to {SK}.\" {A} was {happy} and a little scared.",
   "{A} watched the big kids {SK}. \"I want to do that too,\" {A_he} said.",
   "{A} wanted to {SK} [for the show|for {A_his} {P}|before summer|like {B}].")
_t("skill_fail",
   "{A} tried, but {A_he} fell down. \"Ouch!\" {A_he} said.",
   "The first time, {A} [wobbled|slipped|tripped] and fell. {A_he} felt {sad}.",
   "{A} tried again and again, but it was too hard. \"I can't do it,\" {A_he} {cried}.",
   "{A} got tangled up and landed {spot}. {B} giggled, and {A} felt {angry}.",
   "It was much harder than it looked. {A_his} [arms|legs|fingers] did not do what {A_he} wanted.")
_t("skill_help",
   "{A_his} {P} said, \"Everybody falls at first. Try again, and go slowly.\"",
   "{B} said, \"Don't give up, {A}! I will help you.\"",
   "\"You can do it,\" said {A_his} {P}. \"Just keep trying.\"",
   "{A_his} {P} held on and walked next to {A_him}. \"I have you,\" {P_he} said.",
   "{B} showed {A} a trick. \"[Look straight ahead|Go slow|Count to three|Bend your knees],\" {B_he} said.")
_t("skill_practice",
   "{A} practiced every day. {A_he} practiced {L_at}, in the garden and even in the rain.",
   "{A} tried again. This time {A_he} went a little farther.",
   "Day after day, {A} kept trying. {A_he} got better and better.",
   "{A} practiced in the morning and in the evening. {PET} the {PET_kind} watched {A_him} every time.")
_t("skill_win",
   "[Finally|At last|One day], {A} could {SK} all by {A_self}! \"Look at me!\" {A_he} {shouted}.",
   "Then {A} did it! {A_he} could {SK}! Everyone clapped and cheered.",
   "[Finally|At last], {A} did it. {A_he} felt as {adj} as a {thing}.")
_t("skill_end",
   "{A} was so proud. {A_he} learned that if you keep trying, you can do hard things.",
   "{A} learned that practice and patience help you learn new things.",
   "Now {A} and {B} could {SK} together every day.",
   "Now {A} helps other kids learn to {SK}.")

# ---- plot: weather spoils a plan ----
_t("rain_plan",
   "<day>, {A} wanted to {ACT} {L_at}. {A_he} got ready and put on {A_his} {color} [coat|boots|hat|raincoat|jacket|scarf|sweater].",
   "{A} and {B} had a plan. They were going to {ACT} {L_at} all day.",
   "{A} was excited. Today was the day to go to {L_the} with {A_his} {P}.",
   "{A} had waited all week to go to {L_the}. {A_he} had packed {foods}, {things} and {A_his} {O}.")
_t("rain_start",
   "But then the sky turned gray and it began to rain[ hard|]. Drip, drip, drip.",
   "But then dark clouds came, and the rain started. Soon there were puddles everywhere.",
   "But when {A} looked out of the window, it was [raining|snowing|very windy]. The plan was ruined.",
   "But the sky went dark and [thunder|the wind] [rumbled|howled]. It was too [wet|cold|stormy] to go out.")
_t("rain_sad",
   "{A} pressed {A_his} nose against the window. \"Now we can't go,\" {A_he} said. {A_he} felt {sad}.",
   "\"It's not fair,\" said {A}. {A_he} sat on the floor and frowned.",
   "{A} was {sad}. {A_he} looked at {A_his} {O} and sighed.",
   "{A} [stomped|flopped|sat] on the couch. \"I wanted to {ACT},\" {A_he} said.")
_t("rain_idea",
   "Then {A_his} {P} had an idea. \"Let's {activity} inside!\"",
   "\"We can still have fun inside,\" said {A_his} {P}. \"How about we {activity}?\"",
   "Then {B} said, \"I know! Let's make a fort with blankets and {things}!\"",
   "{A_his} {P} opened a [box|bag|trunk] full of {things} and <things>. \"Look what I found,\" {P_he} said.")
_t("rain_fun",
   "So they {activity_ed} and {activity_ed}. It was so much fun that {A} forgot about the rain.",
   "They built a big fort with pillows, chairs and a {adj} blanket. They took {A_his} {O} inside and told stories.",
   "They made {DISH} in the kitchen. The house smelled {F_adj}.",
   "They played a game with {things} and {things}. {A} won three times!",
   "They put on a show with {things} and a {thing}. {PET} the {PET_kind} was the audience.")
_t("rain_end",
   "When the rain stopped, there was a [big|bright|beautiful] rainbow in the sky. \"Look!\" said {A}.",
   "{A} learned that a rainy day can be a fun day, too.",
   "That night, {A} said, \"That was the best rainy day ever.\"",
   "The next day the sun came out, and they went {L_at} after all.")

# ---- plot: a treasure hunt ----
_t("map_find",
   "<day>, {A} found an old map {spot_in}. It showed a big X near {L_the}.",
   "<day>, {A} and {B} found a note {spot}. It said, \"Find the treasure!\"",
   "<day>, {A_his} {P} gave {A_him} a map. \"There is a surprise {L_at},\" {P_he} said with a wink.",
   "<day>, {A} found a bottle {H1}. Inside was a [map|note|drawing] with a {color} X.")
_t("map_go",
   "{A} and {B} put on their hats and went to {L_the}. They took a <thing>, a <thing> and some {F_s}.",
   "{A} <went> to {L_the}. {PET} the {PET_kind} came too.",
   "The map showed a path past a <plant> and a <thing>. They followed it.",
   "They [walked|ran|marched] past {animals} and {plants} until they reached {L_the}.")
_t("map_clue",
   "First they came to a {plant}. Under it was another note: \"Look {H1}.\"",
   "They counted ten steps from the <plant>. One, two, three... ten!",
   "The path went {H1}, then {H2}. {A} was {excited}.",
   "On the way, they saw a {C} {moving} by. It seemed to point the way.",
   "They had to cross a [little stream|muddy path|wobbly bridge|field of {plants}]. {A} held {B}'s hand.")
_t("map_dig",
   "They started to dig {H3}. They dug and dug until they hit something hard.",
   "There it was! {H3}, they found a <little> wooden box.",
   "{B} pulled away some leaves, and there was a {adj} box with a {color} lid.",
   "The X was {H3}. {A} [dug with a stick|moved a big rock|lifted an old board], and there was a box.")
_t("map_open",
   "They opened the box. Inside was a {X2_adj} {X2} and a note that said, \"For a good friend.\"",
   "Inside the box were {things}, {things} and a shiny {X2}!",
   "The box was full of {F_s}! There was enough for everyone.",
   "Inside was a {X2}. It was not gold, but {A} thought it was the best treasure in the world.")
_t("map_end",
   "{A} and {B} shared the treasure. It was the best day ever.",
   "{A} learned that the best treasure is a day with friends.",
   "They put the box back with a new note, so another child could find it.",
   "They ran home to show {A_his} {P} the {X2}. \"What a {adj} treasure!\" {P_he} said.")

# ---- plot: wanting something ----
_t("want_see",
   "<day>, {A} saw a <X2> in a shop window. {A_he} wanted it [so much|very much|more than anything].",
   "<day>, {B} came to play with a new {X2}. {A} wanted one too.",
   "{A} wanted some {F_s}. {A_he} could see them [on the table|in a jar on the shelf|in the kitchen].",
   "<day>, {A} saw a {X2} at {L_the}. It was {color}, {X2_adj} and [shiny|new|perfect].")
_t("want_ask",
   "\"{P_Cap}, can I have a {X2}?\" asked {A}. \"Not today,\" said {A_his} {P}. \"Maybe if you help me.\"",
   "\"Can I have some {F_s}, please?\" asked {A}. \"After dinner,\" said {A_his} {P}.",
   "{A} asked and asked. \"Please, please, please!\" But {A_his} {P} said, \"You must wait.\"",
   "{A} asked {A_his} {P} for the {X2}. \"[It costs a lot|We will see|You have many toys],\" said {A_his} {P}.")
_t("want_try",
   "So {A} helped. {A_he} [tidied {A_his} room|fed {PET}|watered the {plants}|put away the {things}|washed the cups].",
   "{A} could not wait. {A_he} climbed on a chair to reach the {F_s}, but the chair wobbled and fell with a {sound}!",
   "{A} saved {A_his} coins in a jar. Every day {A_he} counted them: one, two, three...",
   "{A} tried to take it when nobody was looking. But {A_his} {P} saw {A_him}.",
   "{A} made a deal with {A_his} {P}: [one week|seven days|ten days] of [helping|good manners|tidy rooms] for one {X2}.")
_t("want_end",
   "[At last|Finally|A week later], {A} had enough. {A_he} got the {X2} and hugged it tight.",
   "After dinner, {A} got the {F_s}. They were {F_adj} and {yum}. Waiting made them taste even better.",
   "{A_his} {P} <smiled>. \"You worked so hard,\" {P_he} said, and gave {A} the {X2}.",
   "{A} did not get the {X2}. But {A_he} learned that waiting is part of growing up.",
   "In the end, {A} shared the {F_s} with {B}, and that was the best part.")

# ---- plot: a trip ----
_t("trip_go",
   "<day>, {A} went to {L_the} with {A_his} {P}. {A} had never been there before.",
   "<day>, {A_his} {P} said, \"Today we are going to {L_the}!\" {A} jumped up and down.",
   "{A} and {A_his} {P} rode [the bus|the train|their bikes|in the car] to {L_the}.",
   "<day>, {A}'s class went on a trip to {L_the}. {A} sat next to {B} on the bus.")
_t("trip_see",
   "{L_at}, {A} <saw> {animals}, {animals} and a <animal>.",
   "There were <plants> and <plants> everywhere.",
   "{A} <saw> a <animal> [sleeping in the sun|eating {foods}|{moving} around|looking at {A_him}].",
   "A {char_adj} {animal} {moved} past. \"Look, {P_Cap}!\" said {A}.",
   "They stopped to look at a <X2>. {A} had never seen one like it.",
   "{A} bought a {X2} with {A_his} coins. It was {color} and {adj}.",
   "They ate {F_s} on a bench {L_at} and watched the {animals}.",
   "A [man|woman|lady] told them about {animals} and <things>.")
_t("trip_event",
   "Then {A} saw a {C} that looked {sad}. It had lost its {thing}. {A} found it {H1} and gave it back.",
   "Then {A} could not find {A_his} {P}! {A_he} felt {scared}. But soon {A_his} {P} waved from {H1}.",
   "Then a {C} took {A_his} {F}! Everyone laughed, even {A}.",
   "Then {A} met a {B_adj} {B_kind} named {B}. They {activity_ed} together.")
_t("trip_end",
   "On the way home, {A} fell asleep. {A_he} dreamed about {animals} and {things}.",
   "{A} told {B} all about the trip. \"I saw a {C},\" {A_he} said. \"It was so {adj}!\"",
   "It was the best trip ever. {A} could not wait to go back.",
   "That night, {A} drew a picture of {L_the}, with a {C} and a {X2} in it.")

# ---- plot: a magic object ----
_t("magic_find",
   "<day>, {A} found a {X2_adj} {X2} {H1}. It [glowed|sparkled|hummed|felt warm].",
   "<day>, {A} was {ACT_ing} when {A_he} saw a tiny {X2} {H1}. It was {color} and {adj}.",
   "<day>, an old {char_adj} {C} gave {A} a {X2}. \"It is magic,\" it said.",
   "<day>, a {X2} fell from the sky and landed {H1}. {A} ran to see.")
_t("magic_try",
   "{A} picked it up and said, \"I wish I had {foods}!\" And there they were!",
   "{A} {V_ed} the {X2}, and {SUDDEN_l} it began to [talk|sing|grow|float]!",
   "When {A} held the {X2}, {A_he} could hear the {animals} talk.",
   "\"Hello, {A},\" said the {X2}. \"I can grant you one wish.\"",
   "{A} tapped the {X2} three times. {SUDDEN}, the {plants} began to dance!")
_t("magic_wish",
   "{A} thought hard. \"I wish my {P} could have a day of rest,\" {A_he} said.",
   "{A} wished for a {thing} as big as a house. It was fun, but it did not fit anywhere!",
   "{A} wished to fly. {A_he} flew over {L_the}, over the {plants} and the {animals}.",
   "{A} wished that {B} would be {A_his} friend again. The {X2} glowed [softly|brightly].",
   "{A} wished for {foods} and {foods}. {A_he} ate so many that {A_his} tummy hurt.")
_t("magic_twist",
   "But the magic did not last. When the sun went down, the {X2} was just a {X2} again.",
   "But then the {X2} fell and broke into {color} pieces. The magic was gone.",
   "Then {A} woke up. It was all a dream! But on {A_his} pillow was a <little> {X2}.",
   "{A} gave the {X2} to {B}, who needed it more.")
_t("magic_end",
   "{A} learned that the best magic is being kind.",
   "{A} kept the {X2} {spot_in}, and sometimes at night it still [glowed|hummed|sang].",
   "{A} never told anyone about the {X2}. It was {A_his} secret.",
   "From then on, {A} believed in magic.")

# ---- plot: cooking ----
_t("cook_start",
   "<day>, {A} and {A_his} {P} wanted to make {DISH}.",
   "<day>, {A_his} {P} said, \"Let's bake something {F_adj}!\" {A} clapped {A_his} hands.",
   "{A} was hungry. {A_he} asked {A_his} {P}, \"Can we make {DISH}?\"",
   "<day>, {B} came over, and {A_his} {P} said they could make {DISH} together.")
_t("cook_do",
   "They got flour, eggs, [sugar|butter|milk] and a big bowl. {A} [stirred and stirred|mixed everything|cracked the eggs].",
   "{A} put on an apron. {A_he} mixed the [flour|butter|milk] and added some {ingredient}.",
   "{A_his} {P} let {A_him} [measure the sugar|pour the milk|roll the dough|add the {ingredient}].",
   "They [chopped|washed|peeled] {foods} and put them in a {color} pot.")
_t("cook_oops",
   "Oops! {A} spilled the flour. Now everything was white, even {PET}!",
   "{A} [ate|tasted] some of the {ingredient} when nobody was looking. Yum!",
   "The kitchen was a big mess, but they laughed.",
   "Then {A} forgot to turn off the oven, and the {DISH} got a little burnt.")
_t("cook_end",
   "Soon the {DISH} {DISH_was} ready. {DISH_was_cap} {F_adj} and {yum}. {A} shared {DISH_it} with {B}.",
   "They put the {DISH} on a {color} plate. \"{DISH_this} the best {DISH} ever!\" said {A}.",
   "{A} gave the first one to {A_his} {P}. \"Thank you for helping,\" {P_he} said.",
   "{A} learned that cooking with someone you love is the best fun.")

# ---- endings and middles shared by several plots ----
_t("moral",
   "{A} learned that [being kind|sharing|listening|patience|helping others|saying sorry] [is important|makes everyone happy|is the best thing].",
   "The end.",
   "And they all lived happily ever after.",
   "{A} would always remember that day.",
   "That was a day {A} would never forget.")
_t("goodnight",
   "That night, {A} went to bed with a big smile.",
   "That night, {A} hugged {A_his} {O} and fell fast asleep.",
   "When it was time for bed, {A} told {A_his} {P} all about {A_his} day.",
   "{A} yawned. It had been a long, {adj} day.")
_t("talk",
   "\"Look at this {thing}!\" said {A}. \"It is so {adj}!\" \"Wow,\" said {B}.",
   "\"Do you like {things}?\" asked {B}. \"Yes! I love {things},\" said {A}.",
   "{B} said, \"My {P} says {animals} can't {move}.\" {A} laughed. \"That is silly!\"",
   "\"I am {happy},\" said {A}. \"Me too,\" said {B}.",
   "\"Where are you going?\" {SAID} a {char_adj} {animal}. \"To {L_the},\" said {A}.",
   "\"{P_Cap}, why is the sky {color}?\" asked {A}. {A_his} {P} smiled. \"Because the sun [likes it|paints it] that way,\" {P_he} said.",
   "\"Can we {activity}?\" asked {A}. \"Maybe later,\" said {A_his} {P}.",
   "\"Why do {animals} {move}?\" asked {A}. \"Because they are {animals},\" said {B}, and they both laughed.",
   "\"What is your favorite {thing}?\" asked {B}. \"A {color} one,\" said {A}.",
   "\"I think the {C} likes you,\" said {B}. \"I like it too,\" said {A}.",
   "\"Let's go to {L_the} tomorrow,\" said {A}. \"Okay,\" said {B}. \"We can {activity}!\"",
   "\"Look!\" said {A}. \"A {adj} {animal}!\" \"Where?\" asked {B}. \"Over there, by the {thing}!\"")
_t("extra",
   "{A} {moved} to a <plant> and [sat down|looked up|rested] [under|next to] it.",
   "{A} found a <X2> {H2}. {A_he} [put it in {A_his} pocket|showed it to {B}|left it there].",
   "There was a <thing> {spot}. {A} did not know [what it was|whose it was|where it came from].",
   "A {char_adj} {animal} [came|{moved}] by and [looked at|sniffed at|walked around] the {O}.",
   "{A} [ate|shared] a {F_adj} {F} [with {B}|and felt better|under a {plant}].",
   "\"[I like|Look at] the {plants}!\" said {A}. \"They are so {color}!\"",
   "{A} counted [three|four|five|six|seven] {animals} and [two|three] {things}.",
   "{A_his} {P} was busy [cooking|working|cleaning|fixing the {thing}|reading a book about {animals}].",
   "It was getting [dark|cold|late|windy], and the {animals} went home.",
   "{B} told {A} a story about a <animal> and a <thing>.",
   "{A} wore {A_his} [favorite|new|old] {color} [hat|shoes|dress|shirt|coat|boots].",
   "[The|A] {animal} [hopped|ran|flew|crawled|{moved}] [past|around|over] the {thing} and [into|under] the {plants}.",
   "{A_he} [picked|found|gathered] some {plants} and a <thing> for {A_his} {P}.",
   "{A} [heard|could hear] the {SND} of a {thing} [far away|nearby|in the {plants}].",
   "{A} [had|ate] {foods} and {foods} for [breakfast|lunch|a snack]. [It was|They were] {yum}.",
   "Then {A} went to get a drink of water, and [a|the] {animal} followed {A_him}.",
   "{A_his} {P} came out with {foods} and {foods}. \"Snack time!\" {P_he} said.",
   "They sat [on a bench|on the grass|under a {plant}|on a big rock] and talked about {animals}, {things} and {foods}.",
   "{A} told {PET} all about the {O}. {PET} listened and [wagged {PET_his} tail|yawned|blinked].",
   "The sun went behind a cloud, and the {plants} looked {color} in the shade.")

# ---- more beats that deepen each plot ----
_t("lost_love",
   "{A} {V_ed} the {O} every day. {A_he} even [talked to it|gave it a name|took it to bed].",
   "The {O} had been [a gift from {A_his} grandma|with {A} since {A_he} was a baby|the best thing {A_he} ever found].",
   "{A} liked to {V} the {O} and pretend it was a {thing}.",
   "Wherever {A} went, the {O_adj} {O} went too.")
_t("lost_think",
   "{A} sat down and thought hard. \"Where did I last see it?\" {A_he} [said|wondered]. \"Maybe {H2}?\"",
   "{A} tried to remember. {A_he} had {V_ed} it {L_at}, and then {A_he} had {activity_ed}.",
   "{A} [closed {A_his} eyes|took a deep breath] and thought about the whole day, one step at a time.",
   "\"Think, think, think,\" said {A}, tapping {A_his} head.")
_t("lost_after",
   "To say thank you, {A} shared {A_his} {F_s} with {B}.",
   "They went home together, and {A_his} {P} made them {DISH}.",
   "{A} and {B} {activity_ed} until it was time for dinner.",
   "{A} gave the {C} a {food} for keeping the {O} safe.")
_t("stuck_others",
   "A {char_adj} {animal} came by and tried to help, but it was too [small|slow|sleepy].",
   "{A} asked a [tall|big|kind] [man|lady|girl|boy] for help, but {P_he} could not reach it either.",
   "{PET} the {PET_kind} barked and jumped, but the {O} did not move.",
   "{A} called, \"Help! Can anyone help me?\" A {C} looked down from the {tree} and [blinked|yawned].")
_t("stuck_idea",
   "Then {A} had an idea. \"If I stand on a <thing>, I might reach it!\"",
   "{A} thought and thought. \"Maybe I can shake the {tree},\" {A_he} said.",
   "\"What if we throw a ball at it?\" asked {B}. \"Let's try!\" said {A}.")
_t("share_think",
   "{B} looked at the {O} with big eyes. {B_he} did not have a {O} at home.",
   "{A} saw that {B} was {sad}. {A_he} remembered how it felt when nobody shared with {A_him}.",
   "{A} thought about it. \"If I share, I will have less,\" {A_he} said [to {A_self}|quietly].",
   "{B_his} {B_kind} friends were {activity_ing}, but {B} only wanted to play with the {O}.")
_t("share_play",
   "{A} and {B} made up a game. {A} {V_ed} the {O}, and {B} [counted|cheered|caught it].",
   "They played with the {O}, a <thing> and some {things} {L_at}.",
   "\"Your turn,\" said {A}. \"Now your turn,\" said {B}. They laughed and laughed.")
_t("fear_before",
   "{A} was brave about most things, but {A_he} did not like [the dark|loud noises|big dogs|deep water|thunder].",
   "{A} always slept with {A_his} {O} and a little light on.",
   "Every night, {A}'s {P} read {A_him} a story about a brave {animal}.")
_t("fear_after",
   "The next night, {A} [turned off the light|went outside|said hello to the {C}] all by {A_self}.",
   "Now {A} tells {PET} not to be scared [of the dark|of thunder|of {C_s}].",
   "{A} drew a picture of the {C}, and it did not look scary at all. It looked {C_adj}.")
_t("help_name",
   "\"I will call you {pet_name},\" said {A}. The {C} [blinked|squeaked|wiggled] as if it liked the name.",
   "{A} looked at the {C} and said, \"You need a name. How about {pet_name}?\"",
   "{B} wanted to call the {C} {pet_name}, but {A} wanted {pet_name}. In the end, they picked {pet_name}.")
_t("help_parent",
   "{A_his} {P} said, \"{C_s} belong outside, {A}. When it is well, we must let it go.\"",
   "{A} asked, \"Can we keep it?\" {A_his} {P} said, \"Only until it is better.\"",
   "{A_his} {P} showed {A} how to [feed|hold|clean] the {C}. \"Be very gentle,\" {P_he} said.")
_t("gift_plan",
   "{A} thought about what {A_his} {P} liked. {P_he} liked {things}, {foods} and the color {color}.",
   "\"What should I make?\" {A} asked {PET}. {PET} just [wagged {PET_his} tail|yawned|purred].",
   "{A} had no money, so {A_he} decided to make the gift all by {A_self}.")
_t("gift_secret",
   "{A} hid the gift {spot_in} so nobody would see it.",
   "\"Shh! It's a secret,\" {A} told {B}. {B} promised not to tell.",
   "All day, {A} could hardly wait. {A_he} kept looking at the clock.")
_t("warn_want",
   "{A} loved to look at the {W}. {A_he} thought there might be {things} [in it|near it|behind it].",
   "{B} had told {A} that there was a <thing> by the {W}.",
   "The {W} looked [shiny|interesting|exciting] from far away.")
_t("warn_rescue",
   "Then {B} came and [pulled|helped] {A} out. \"Are you hurt?\" asked {B}.",
   "A [kind|big|friendly] {C} heard {A} and ran to get {A_his} {P}.",
   "{A_his} {P} heard {A_his} cries and came running as fast as {P_he} could.")
_t("new_share",
   "{A} had {foods} in {A_his} bag. {A_he} gave half to {B}.",
   "{B} shared {B_his} {F_s} with {A}. They were {F_adj}!",
   "They sat [on a bench|under a {plant}|on the grass] and ate {foods} together.")
_t("new_talk",
   "\"What do you like to do?\" asked {A}. \"I like to {activity},\" said {B}. \"Me too!\" said {A}.",
   "\"Where do you live?\" asked {B}. \"{home_Cap},\" said {A}.",
   "\"Do you have a pet?\" asked {B}. \"I have a {PET_kind} named {PET},\" said {A}.",
   "\"Is that your {O}?\" asked {B}. \"Yes,\" said {A}. \"Do you want to {V} it?\"")
_t("skill_watch",
   "{B} made it look so easy. {B_he} [went so fast|did it again and again|never fell once].",
   "{A} watched {A_his} {P} {SK}. {P_he} had learned when {P_he} was little.",
   "{A} read a book about a {char_adj} {animal} who learned to {SK}.")
_t("skill_show",
   "{A} showed {A_his} {P}, {B} and even {PET}.",
   "{A} did it again and again, just to be sure.",
   "The next day, {A} taught {B} a new trick.")
_t("rain_window",
   "{A} watched the raindrops race down the window. \"That one is winning!\" {A_he} said.",
   "Outside, the {animals} were hiding and the {plants} were getting wet.",
   "{A} could see a {C} hiding {spot} from the rain.")
_t("map_plan",
   "\"We need a [shovel|flashlight|bag|snack],\" said {B}. {A} got a <thing> and a {thing}.",
   "{A} and {B} made a plan. First they would go to {L_the}. Then they would follow the map.",
   "\"What if it is a real treasure?\" whispered {A}. {B} giggled.")
_t("want_dream",
   "That night, {A} dreamed about the {X2}. In the dream it was {color} and {adj}.",
   "All day, {A} could only think about the {X2}.",
   "{A} drew a picture of the {X2} and put it by {A_his} bed.")
_t("trip_pack",
   "{A} packed {A_his} bag with {foods}, a <thing> and {A_his} {O}.",
   "Before they left, {A_his} {P} said, \"Stay close to me, {A}.\"",
   "The ride was long. {A} counted {animals} and {things} out of the window.")
_t("trip_food",
   "For lunch, they had {foods} and {foods}. {A} said it was the best lunch ever.",
   "{A_his} {P} bought {A_him} a {F}. It was {F_adj}.",
   "They had a picnic [under a {plant}|by the water|on a hill]. A {C} watched them eat.")
_t("magic_show",
   "{A} ran to show {B}. \"Look! It can [talk|glow|sing]!\" But when {B} looked, it was just a {X2}.",
   "{A} showed the {X2} to {A_his} {P}. {P_he} smiled and said, \"What a {adj} {X2}.\"",
   "{A} put the {X2} on {A_his} window, and that night {A_his} room was full of {color} light.")
_t("cook_wait",
   "They waited by the oven. {A} could smell the {DISH}. \"Is it ready yet?\" {A_he} asked.",
   "While they waited, {A} and {A_his} {P} cleaned the kitchen and sang a song about {foods}.",
   "{A} watched the timer. Tick, tock, tick, tock.")

# ---- descriptions: small scenes built from the word lists, for any plot ----
_t("describe",
   "[The|A] <animal> {moved} [past|around|over|behind|toward] [the|a] <thing>[, and the {animals} {moved} after it|].",
   "[Near|Behind|Beside|Under] [the|a] <plant>, [there was|{A} <saw>] a <thing> and [two|three|some] {things}.",
   "[The|A] <animal> was {moving} [by|near|around] the <plant> with a <thing> [in its mouth|on its back|in its paws].",
   "{A} <saw> that the {plants} were {color} and the {things} were {adj}.",
   "[Far away|Up on the hill|Down by the water|Across the path], [a|the] <animal> [was|were] {moving} [in the sun|in the wind|all alone|with its friends].",
   "[The air|Everything] smelled [like|of] {foods}, {plants} and [rain|grass|the sea|fresh bread].",
   "[On|By|Under] the {thing} sat a {char_adj} {animal}, [eating|holding|sniffing|guarding] a {food}.",
   "{A} [picked up|looked at|touched] a <thing>. It was {adj}, like a {thing}.",
   "[A|The] <animal> {handled} a <thing> and {moved} [away|off|back {spot}].",
   "There were {animals} [in|on|near|under] the {plants}, and a <animal> [sat|slept|waited] {spot}.",
   "The {plants} were [swaying|dancing|shaking] in the wind, and [a|the] {sound} came from [far away|the {plants}|{spot}].",
   "[{A} noticed|There was] a {color} {thing} [stuck|hanging|lying] [in|on|under] the <plant>.",
   "The {animals} and the {animals} were {moving} around the {plant}.",
   "A <animal> and a <animal> were sharing a {food} by the {thing}.",
   "Next to the {plant} was a {thing}, and next to the {thing} was a {char_adj} {animal}.")
_t("action",
   "{A} {moved} [to|toward|around|past] the <plant> and {handled} a <thing>.",
   "{A} {V_ed} the {O}, {moved} over to the {thing} and [sat down|looked around|waited].",
   "Then {A} {moved} [home|back|outside|inside] with [the|a] <thing> [in {A_his} hands|under {A_his} arm].",
   "{A} gave the <thing> to {B}, and {B} {handled} it [{adverb}|with a smile].",
   "{A} [put|hid|left] the <thing> {spot} and {moved} away {adverb}.",
   "{A} {moved} over to {B} and showed {B_him} [the|a] <thing>.",
   "{B} {handled} the {thing} while {A} {V_ed} the {O}.",
   "{A} {activity_ed}, and then {A_he} {activity_ed} [with {B}|with {PET}|by {A_self}].",
   "{A} and {B} {moved} [to|around] the {plant} and found {animals} and {things} there.",
   "{A} {handled} the <thing> and the <thing>, and then {A_he} {V_ed} the {O}.",
   "With {PET} at {A_his} side, {A} {moved} [to|toward] the <thing> {spot}.",
   "{A} [took|picked up|grabbed] the {O} and {moved} to the {thing} [as fast as {A_he} could|without a sound|{adverb}].")
_t("feel",
   "{A} felt {happy} and a little surprised.",
   "{A_his} [heart|tummy] felt [warm|fuzzy|light|full of butterflies].",
   "{A} was {surprised}. {A_he} had never seen a <thing> like that before.",
   "{A} wondered [what|why|how] the {animals} [played|ate|slept] {spot}.",
   "{A} thought about {things}, {foods} and {animals}, and {A_he} <smiled>.",
   "{A} felt like the [luckiest|happiest|bravest] {A_kind} in the whole world.",
   "For a moment, {A} felt {sad}, but then {A_he} thought about {things} and felt better.")

# Clauses that a sentence of a JOINABLE beat can grow: "..., and <clause>." They say nothing
# about feelings, so they fit a happy moment and a sad one.
AND = (
    "the wind [blew through|moved] the <plants>", "the {animals} [sang|chirped|played] [nearby|in the {plants}]",
    "a <animal> [sat|watched|waited] {spot}", "{PET} the {PET_kind} [watched|followed|jumped around]",
    "the sun [was warm|came out|went behind a cloud]", "{A_his} {P} [watched|waved] from [far away|the window|the porch]",
    "{A_he} [hummed|sang] a [little|happy|silly] song about {things}", "everything smelled like {foods}",
    "the {O} [shone|sparkled] in the [sun|light]", "{A_he} [sat down|looked around|took a deep breath|waited]",
    "{A_he} <saw> a <thing> [on the ground|{spot}|next to a {plant}]", "{A_he} {moved} {adverb}", "{A_he} {moved} [home|away|over] [quickly|slowly|happily]",
    "a {sound} came from [the {plants}|{spot}|far away]", "the {animals} {moved} [away|by|past]",
    "{A_he} picked [a|some] {plants} [for {A_his} {P}|on the way]", "a <thing> [fell over|rolled away|made a {sound}]",
    "the [clouds|leaves|birds] [moved|drifted|flew] [across the sky|over the {plants}|away]",
    "a {char_adj} {animal} {moved} [by|past|around the {plant}]", "{A_he} {handled} the <thing> [{adverb}|again]")
# Beats whose sentences may grow an AND clause; beats that never get a lead-in ("Then, ...").
JOINABLE = frozenset({
    "scene", "describe", "action", "play", "extra", "go_place", "lost_search", "help_do", "map_go", "map_clue",
    "trip_see", "trip_food", "rain_fun", "new_play", "share_play", "skill_practice", "cook_do", "gift_make",
    "stuck_try", "want_try", "magic_try", "fear_brave", "help_find", "lost_problem"})
NO_LEAD_IN = frozenset({"open", "trait", "has_obj", "friend", "moral", "goodnight", "talk", "feel", "fear_before",
                        "lost_love"})
# Lead-ins for a sentence that starts with the hero: "Then, Lily ...".
PREFIXES = ("Then, ", "After that, ", "Soon, ", "Next, ", "Later, ", "Then ")

# Plots: beat names in order; "beat?" is used half the time, "beat?0.3" with that probability.
PLOTS: dict[str, tuple[str, ...]] = {
    "lost": ("open", "trait?", "has_obj", "lost_love?0.6", "friend?0.3", "go_place", "scene?", "describe?0.6", "play", "action?0.5", "extra?", "describe?0.4",
             "lost_problem", "lost_feel", "lost_think?0.6", "lost_search", "lost_search?0.4", "lost_help",
             "talk?0.3", "lost_found", "lost_happy", "lost_after?0.5", "lost_end?0.7"),
    "stuck": ("open", "trait?", "has_obj", "friend?0.5", "go_place", "scene?", "describe?0.6", "play", "action?0.5", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "stuck_problem",
              "stuck_try", "stuck_feel", "stuck_others?0.6", "stuck_idea?0.5", "stuck_try?0.4", "talk?0.3",
              "stuck_help", "stuck_end", "goodnight?0.3"),
    "share": ("open", "has_obj", "trait?", "friend", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "share_ask", "share_think?0.6", "share_refuse",
              "share_fight?0.6", "share_sad", "share_think?0.3", "share_fix", "share_play?0.6", "talk?0.3",
              "share_end", "moral?0.3"),
    "fear": ("open", "trait?", "fear_before?0.6", "has_obj?0.4", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "fear_start", "fear_feel",
             "fear_comfort", "talk?0.3", "fear_comfort?0.3", "fear_brave", "fear_end", "fear_after?0.5",
             "goodnight?0.3"),
    "help": ("open", "trait?", "friend?0.4", "help_find", "scene?", "describe?0.6", "help_problem", "help_do", "help_name?0.5",
             "help_parent?0.5", "help_do?0.4", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "help_better", "help_end", "moral?0.3"),
    "gift": ("open", "trait?", "friend?0.5", "gift_reason", "gift_plan?0.6", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "gift_make",
             "gift_make?0.4", "gift_secret?0.5", "gift_mishap?0.6", "gift_fix?0.6", "gift_give", "talk?0.2",
             "gift_end", "moral?0.3"),
    "warn": ("open", "trait?", "has_obj", "go_place", "scene?", "describe?0.6", "warn_want?0.6", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "warn_say",
             "warn_go", "warn_bad", "warn_rescue?0.5", "warn_after?0.6", "warn_end"),
    "new_friend": ("open", "trait?", "has_obj?0.4", "new_lonely", "new_meet", "new_hello", "new_talk?0.6",
                   "scene?0.3", "describe?0.5", "new_play", "new_share?0.5", "extra?", "describe?0.4", "talk?0.4", "new_problem?0.7",
                   "new_end"),
    "skill": ("open", "trait?", "friend?0.6", "skill_want", "skill_watch?0.5", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "skill_fail",
              "skill_help", "skill_practice", "skill_fail?0.3", "skill_help?0.3", "skill_win", "skill_show?0.5",
              "skill_end", "goodnight?0.3"),
    "rain": ("open", "trait?", "has_obj?0.5", "friend?0.5", "rain_plan", "rain_start", "rain_window?0.6",
             "rain_sad", "rain_idea", "rain_fun", "rain_fun?0.4", "extra?", "describe?0.4", "talk?0.3", "rain_end"),
    "treasure": ("open", "trait?", "friend", "map_find", "map_plan?0.6", "map_go", "scene?", "describe?0.6", "extra?", "describe?0.4",
                 "map_clue", "map_clue?0.5", "talk?0.3", "map_dig", "map_open", "map_end"),
    "want": ("open", "trait?", "friend?0.5", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "want_see", "want_dream?0.5", "want_ask", "want_try",
             "want_try?0.4", "talk?0.3", "want_end", "moral?0.4"),
    "trip": ("open", "trait?", "trip_pack?0.6", "trip_go", "scene?", "describe?0.6", "trip_see", "trip_see", "trip_food?0.6",
             "trip_see?0.6", "extra?", "describe?0.4", "talk?0.4", "trip_event", "trip_end", "goodnight?0.3"),
    "magic": ("open", "trait?", "has_obj?0.3", "friend?0.5", "magic_find", "extra?0.4", "describe?0.4", "action?0.4", "feel?0.3", "magic_try",
              "magic_show?0.5", "magic_wish", "magic_twist?0.7", "magic_end"),
    "cook": ("open", "trait?", "friend?0.5", "cook_start", "cook_do", "cook_do?0.4", "cook_oops?0.7",
             "cook_wait?0.6", "extra?", "describe?0.4", "talk?0.3", "cook_end", "goodnight?0.3"),
}
