"""The string strategies of Feldera's datagen (``word``, ``name``, ``email``, ...), made with Faker.

Feldera makes them with the Rust ``fake`` crate in English; Faker is the Python library of the
same purpose, and its English (``en_US``) providers give the same kinds of strings. Faker is
imported when a program first uses one of these strategies, so the engine starts without it.
Its random source is reseeded from the chunk's ``random.Random`` before each use, so a ``seed``
makes the same strings on every run.
"""

from __future__ import annotations

import os
import string
import threading

from .datagen_config import STRING_STRATEGIES

# Three kinds of job words the ``fake`` crate has and Faker has not (job::Field, Position, Seniority).
_FIELDS = ("Marketing", "IT", "Accounting", "Administration", "Advertising", "Banking", "Community-Services",
           "Construction", "Consulting", "Design", "Education", "Farming", "Government", "Healthcare",
           "Hospitality", "Legal", "Manufacturing", "Mining", "Real-Estate", "Retail", "Sales", "Technology")
_POSITIONS = ("Supervisor", "Associate", "Executive", "Liaison", "Officer", "Manager", "Engineer", "Specialist",
              "Director", "Coordinator", "Administrator", "Architect", "Analyst", "Designer", "Planner",
              "Technician", "Developer", "Producer", "Consultant", "Assistant", "Facilitator", "Agent",
              "Representative", "Strategist")
_SENIORITY = ("Lead", "Senior", "Direct", "Corporate", "Dynamic", "Future", "Product", "National", "Regional",
              "District", "Central", "Global", "Customer", "Investor", "International", "Legacy", "Forward",
              "Internal", "Human", "Chief", "Principal")
_INDUSTRIES = ("Agriculture", "Automotive", "Banking", "Biotechnology", "Chemicals", "Construction", "Defense",
               "Education", "Energy", "Entertainment", "Financial Services", "Food & Beverages", "Government",
               "Healthcare", "Hospitality", "Insurance", "Logistics", "Manufacturing", "Media", "Mining",
               "Pharmaceuticals", "Real Estate", "Retail", "Software", "Telecommunications", "Transportation",
               "Utilities")
_STATUS_CODES = (100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
                 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
                 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505,
                 506, 507, 508, 510, 511)
_ALNUM = string.ascii_letters + string.digits


class StringMaker:
    """One per worker thread (a Faker instance is not shared between threads)."""

    _import_lock = threading.Lock()

    def __init__(self):
        with self._import_lock:
            from faker import Faker
        self.f = Faker("en_US")
        company = type(self.f.factories[0].provider("faker.providers.company"))
        self._catch = company.catch_phrase_words
        self._bs = company.bsWords

    def make(self, strategy: str, lo: int, hi: int, rng) -> str:
        assert strategy in STRING_STRATEGIES
        f = self.f
        f.seed_instance(rng.getrandbits(64))
        count = lambda: rng.randrange(lo, hi)
        match strategy:
            case "word": return f.word()
            case "words": return " ".join(f.words(nb=count()))
            case "sentence": return f.sentence(nb_words=count(), variable_nb_words=False)
            case "sentences": return " ".join(f.sentences(nb=count()))
            case "paragraph": return f.paragraph(nb_sentences=count(), variable_nb_sentences=False)
            case "paragraphs": return " ".join(f.paragraphs(nb=count()))
            case "first_name": return f.first_name()
            case "last_name": return f.last_name()
            case "title": return f.prefix()
            case "suffix": return f.suffix()
            case "name": return f.name()
            case "name_with_title": return f"{f.prefix()} {f.name()}"
            case "domain_suffix": return f.tld()
            case "email": return f.safe_email()
            case "username": return f.user_name()
            case "password":
                n = count()
                return f.password(length=n) if n >= 4 else "".join(rng.choices(_ALNUM, k=n))
            case "field": return rng.choice(_FIELDS)
            case "position": return rng.choice(_POSITIONS)
            case "seniority": return rng.choice(_SENIORITY)
            case "job_title": return f"{rng.choice(_SENIORITY)} {rng.choice(_FIELDS)} {rng.choice(_POSITIONS)}"
            case "ipv4": return f.ipv4()
            case "ipv6": return f.ipv6()
            case "ip": return f.ipv4() if rng.random() < 0.5 else f.ipv6()
            case "mac_address": return f.mac_address()
            case "user_agent": return f.user_agent()
            case "rfc_status_code" | "valid_status_code": return str(rng.choice(_STATUS_CODES))
            case "company_suffix": return f.company_suffix()
            case "company_name": return f.company()
            case "buzzword": return rng.choice(self._catch[0])
            case "buzzword_middle": return rng.choice(self._catch[1])
            case "buzzword_tail": return rng.choice(self._catch[2])
            case "catch_phrase": return f.catch_phrase()
            case "bs_verb": return rng.choice(self._bs[0])
            case "bs_adj": return rng.choice(self._bs[1])
            case "bs_noun": return rng.choice(self._bs[2])
            case "bs": return f.bs()
            case "profession": return f.job()
            case "industry": return rng.choice(_INDUSTRIES)
            case "currency_code": return f.currency_code()
            case "currency_name": return f.currency_name()
            case "currency_symbol": return f.currency_symbol()
            case "credit_card_number": return f.credit_card_number()
            case "city_prefix": return f.city_prefix()
            case "city_suffix": return f.city_suffix()
            case "city_name": return f.city()
            case "country_name": return f.country()
            case "country_code": return f.country_code()
            case "street_suffix": return f.street_suffix()
            case "street_name": return f.street_name()
            case "time_zone": return f.timezone()
            case "state_name": return f.state()
            case "state_abbr": return f.state_abbr()
            case "secondary_address_type": return rng.choice(("Apt.", "Suite"))
            case "secondary_address": return f.secondary_address()
            case "zip_code": return f.zipcode()
            case "post_code": return f.postcode()
            case "building_number": return f.building_number()
            case "latitude": return str(f.latitude())
            case "longitude": return str(f.longitude())
            case "isbn": return f.isbn13() if rng.random() < 0.5 else f.isbn10()
            case "isbn13": return f.isbn13()
            case "isbn10": return f.isbn10()
            case "phone_number" | "cell_number": return f.phone_number()
            case "file_path": return f.file_path(depth=rng.randint(1, 3))
            case "file_name": return f.file_name()
            case "file_extension": return f.file_extension()
            case "dir_path": return os.path.dirname(f.file_path(depth=rng.randint(1, 3)))
        raise AssertionError(strategy)


__all__ = ["StringMaker"]
