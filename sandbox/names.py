"""Name pools for generated people: a European company's mix, with the accents real HR data has."""

from __future__ import annotations

import unicodedata
from functools import cache


def _pool(text: str) -> tuple[str, ...]:
    """A comma-separated block as a tuple; kept as text so the pools stay readable, not one per line."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


FEMALE_FIRST_NAMES = _pool(
    """
    Anna, Lena, Sophie, Marie, Laura, Julia, Katharina, Hannah, Lea, Clara, Zoë, Chloé, Inès, Léa,
    Maëlle, Amélie, Françoise, Élodie, Agnieszka, Małgorzata, Zofia, Katarzyna, Ewa, María, Lucía,
    Sofía, Begoña, Núria, Inés, Carmen, Sørine, Ingrid, Astrid, Freja, Signe, Maja, Sanne, Fleur, Emma,
    Olivia, Charlotte, Emily, Grace, Aoife, Siobhán, Priya, Ananya, Aisha, Fatma, Elif, Ayşe, Mei, Yuki,
    Giulia, Chiara, Francesca, Beatriz, Joana, Ivana, Jana
    """
)
MALE_FIRST_NAMES = _pool(
    """
    Jürgen, Lukas, Maximilian, Felix, Jonas, Tobias, Florian, Alexander, Sebastian, Matthias, Björn,
    Jörg, Uwe, Timo, Niklas, Łukasz, Paweł, Michał, Wojciech, Piotr, Tomasz, José, Iñigo, Álvaro,
    Sergio, Javier, Raúl, Joaquín, Søren, Mads, Rasmus, Anders, Håkon, Lars, Sander, Daan, Thijs,
    Pieter, Noah, Oliver, James, Thomas, Harry, Peter, Oisín, Seán, Rahul, Arjun, Vikram, Mehmet, Emre,
    Çağan, Wei, Hiroshi, Luca, Matteo, Giovanni, João, Tiago, François, Théo, Jérôme, René, Noël,
    Zoltán, Dávid, Ondřej, Jiří, Mateus
    """
)
LAST_NAMES = _pool(
    """
    Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, Hoffmann, Schäfer, Koch,
    Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Zimmermann, Braun, Krüger, Hofmann,
    Hartmann, Lange, Schmitt, Werner, Krause, Köhler, Großmann, Weiß, Kowalski, Nowak, Wiśniewski,
    Wójcik, Kamiński, Lewandowski, Zieliński, Szymański, Woźniak, Dąbrowski, García, Martínez, López,
    Sánchez, Pérez, Gómez, Fernández, Rodríguez, Ñúñez, Muñoz, Jiménez, Álvarez, Castaño, Ibáñez,
    Jensen, Nielsen, Hansen, Pedersen, Sørensen, Christensen, Løvgren, Ødegaard, Åberg, Lindqvist,
    de Jong, Jansen, de Vries, van den Berg, van Dijk, Bakker, Visser, Smit, Smith, Jones, Taylor, Brown,
    Williams, Wilson, Evans, Thomas, Roberts, O'Brien, O'Connor, Murphy, Kelly, Byrne, Dubois, Lefèvre,
    Moreau, Girard, Bonnet, Rousseau, Fontaine, Chevalier, Rossi, Russo, Bianchi, Romano, Colombo, Ricci,
    Ferrari, Esposito, Silva, Santos, Gonçalves, Conceição, Patel, Sharma, Gupta, Iyer, Reddy, Y\u0131lmaz,
    Kaya, Demir, Şahin, Çelik, Öztürk, Wang, Li, Zhang, Chen, Tanaka, Suzuki, Nagy, Horváth, Novák,
    Dvořák, Černý, Kovačević, Petrović, Popescu, Ionescu, Papadopoulos, Nikolaidis
    """
)

# Short forms people go by; Personio keeps them in `preferred_name`.
PREFERRED_NAMES: dict[str, str] = {
    "Alexander": "Alex",
    "Katharina": "Kathi",
    "Maximilian": "Max",
    "Sebastian": "Basti",
    "Matthias": "Matze",
    "Charlotte": "Lotte",
    "Francesca": "Fran",
    "Wojciech": "Wojtek",
    "Małgorzata": "Gosia",
    "Tomasz": "Tomek",
    "Joaquín": "Quim",
    "Giovanni": "Gianni",
    "Florian": "Flo",
    "Olivia": "Liv",
}

# German umlauts and a few letters that Unicode decomposition does not reduce to ASCII.
# (\u0131 is the Turkish dotless i, escaped because linters flag it as a look-alike.)
_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ł": "l", "ø": "o", "æ": "ae", "đ": "d", "\u0131": "i"}
)


def email_local_part(first_name: str, last_name: str) -> str:
    """`firstname.lastname` in plain ASCII.

    `Jürgen Weiß` -> `juergen.weiss`, `Seán O'Brien` -> `sean.obrien`.
    """

    return f"{_ascii_name(first_name)}.{_ascii_name(last_name)}"


@cache  # names repeat a lot in a big company; the pools are small
def _ascii_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.lower().translate(_TRANSLITERATION))
    return "".join(char for char in decomposed if char.isascii() and char.isalnum())
