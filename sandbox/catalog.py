"""The shape of the generated company: departments with their teams and jobs, offices, legal entities."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DepartmentPlan:
    """One department as generated: its head, its teams and the jobs people in it hold."""

    name: str
    weight: int  # relative headcount; engineering outgrows legal
    head_title: str
    manager_title: str  # people leads below a team lead in large teams
    teams: tuple[str, ...]
    jobs: tuple[str, ...]


DEPARTMENTS: tuple[DepartmentPlan, ...] = (
    DepartmentPlan(
        "Engineering",
        30,
        "VP Engineering",
        "Engineering Manager",
        ("Backend", "Frontend", "Platform", "Mobile"),
        ("Software Engineer", "Senior Software Engineer", "Staff Engineer", "QA Engineer", "DevOps Engineer"),
    ),
    DepartmentPlan(
        "Sales",
        18,
        "VP Sales",
        "Sales Manager",
        ("Inside Sales", "Field Sales", "Account Management"),
        ("Account Executive", "Sales Development Representative", "Account Manager"),
    ),
    DepartmentPlan(
        "Customer Support",
        14,
        "Head of Customer Support",
        "Support Manager",
        ("Tier 1 Support", "Tier 2 Support", "Customer Success"),
        ("Support Agent", "Senior Support Agent", "Customer Success Manager"),
    ),
    DepartmentPlan(
        "Marketing",
        8,
        "Head of Marketing",
        "Marketing Manager",
        ("Content", "Performance Marketing", "Brand"),
        ("Content Marketing Manager", "Marketing Specialist", "Brand Designer"),
    ),
    DepartmentPlan(
        "Product",
        7,
        "VP Product",
        "Group Product Manager",
        ("Product Management", "Product Design", "UX Research"),
        ("Product Manager", "Product Designer", "UX Researcher"),
    ),
    DepartmentPlan(
        "Finance",
        5,
        "CFO",
        "Finance Manager",
        ("Accounting", "Controlling", "Payroll"),
        ("Accountant", "Financial Controller", "Payroll Specialist"),
    ),
    DepartmentPlan(
        "People",
        5,
        "Head of People",
        "People Manager",
        ("Recruiting", "People Operations", "Learning & Development"),
        ("Recruiter", "People Partner", "L&D Specialist"),
    ),
    DepartmentPlan(
        "Operations",
        5,
        "COO",
        "Operations Manager",
        ("Facilities", "Procurement", "Business Operations"),
        ("Office Manager", "Procurement Specialist", "Operations Analyst"),
    ),
    DepartmentPlan(
        "IT",
        4,
        "Head of IT",
        "IT Manager",
        ("IT Support", "Security", "Internal Tools"),
        ("IT Support Specialist", "Security Engineer", "Systems Administrator"),
    ),
    DepartmentPlan(
        "Data",
        4,
        "Head of Data",
        "Analytics Manager",
        ("Analytics", "Data Engineering"),
        ("Data Analyst", "Data Engineer", "Data Scientist"),
    ),
    DepartmentPlan(
        "Legal",
        2,
        "General Counsel",
        "Senior Legal Counsel",
        ("Legal & Compliance", "Data Protection"),
        ("Legal Counsel", "Compliance Manager", "Data Protection Officer"),
    ),
)


@dataclass(frozen=True)
class OfficePlan:
    """An office and the legal entity (Personio's subcompany) that employs the people in it."""

    name: str
    weight: int
    legal_suffix: str  # "GmbH", "Ltd"... appended to the company name


OFFICES: tuple[OfficePlan, ...] = (
    OfficePlan("Munich", 35, "GmbH"),
    OfficePlan("Berlin", 25, "GmbH"),
    OfficePlan("London", 12, "Ltd"),
    OfficePlan("Madrid", 10, "S.L."),
    OfficePlan("Amsterdam", 8, "B.V."),
    OfficePlan("Remote", 10, "GmbH"),
)

# (display name, email domain); the seed picks one. `.example` is reserved, so a demo never mails a stranger.
COMPANY_NAMES: tuple[tuple[str, str], ...] = (
    ("Northwind Robotics", "northwind-robotics.example"),
    ("Bergblick Software", "bergblick.example"),
    ("Lumen Logistics", "lumen-logistics.example"),
    ("Kestrel Health", "kestrel-health.example"),
    ("Tidewater Energy", "tidewater-energy.example"),
)

TERMINATIONS: tuple[tuple[str, str], ...] = (
    ("resignation", "New job"),
    ("resignation", "Relocation"),
    ("termination by employer", "Restructuring"),
    ("end of contract", "Fixed-term contract ended"),
    ("mutual agreement", "Career change"),
)

WEEKLY_HOURS: tuple[str, ...] = ("40", "40", "40", "40", "38.5", "32", "30", "20")
TSHIRT_SIZES: tuple[str, ...] = ("XS", "S", "M", "L", "XL")
