"""Spider's concert_singer schema (the reference design's textbook case) with realistic rows."""

from __future__ import annotations

import sqlalchemy as sa


def metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "stadium", md,
        sa.Column("Stadium_ID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("Location", sa.Text), sa.Column("Name", sa.Text),
        sa.Column("Capacity", sa.Integer), sa.Column("Highest", sa.Integer),
        sa.Column("Lowest", sa.Integer), sa.Column("Average", sa.Integer),
    )
    sa.Table(
        "singer", md,
        sa.Column("Singer_ID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("Name", sa.Text), sa.Column("Country", sa.Text), sa.Column("Song_Name", sa.Text),
        sa.Column("Song_release_year", sa.Text), sa.Column("Age", sa.Integer), sa.Column("Is_male", sa.Boolean),
    )
    sa.Table(
        "concert", md,
        sa.Column("concert_ID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("concert_Name", sa.Text), sa.Column("Theme", sa.Text),
        sa.Column("Stadium_ID", sa.Integer, sa.ForeignKey("stadium.Stadium_ID")),
        sa.Column("Year", sa.Text),
    )
    sa.Table(
        "singer_in_concert", md,
        sa.Column("concert_ID", sa.Integer, sa.ForeignKey("concert.concert_ID"), primary_key=True, autoincrement=False),
        sa.Column("Singer_ID", sa.Integer, sa.ForeignKey("singer.Singer_ID"), primary_key=True, autoincrement=False),
    )
    return md


_STADIUMS = [
    (1, "Raith Rovers", "Stark's Park", 10104, 4812, 1294, 2106),
    (2, "Ayr United", "Somerset Park", 11998, 2363, 1057, 1477),
    (3, "East Fife", "Bayview Stadium", 2000, 1980, 533, 864),
    (4, "Queen's Park", "Hampden Park", 52500, 1763, 466, 730),
    (5, "Stirling Albion", "Forthbank Stadium", 3808, 1125, 404, 642),
    (6, "Arbroath", "Gayfield Park", 4125, 921, 411, 638),
    (7, "Alloa Athletic", "Recreation Park", 3100, 1057, 331, 637),
    (8, "Peterhead", "Balmoor", 4000, 837, 400, 615),
    (9, "Brechin City", "Glebe Park", 3960, 780, 315, 552),
    (10, "Celtic", "Celtic Park", 60411, 59800, 40000, 49500),
    (11, "Hibernian", "Easter Road", 20421, 20100, 9800, 16900),
]
_SINGERS = [
    (1, "Joe Sharp", "Netherlands", "You", "1992", 52, False),
    (2, "Timbaland", "United States", "Dangerous", "2008", 32, True),
    (3, "Justin Brown", "France", "Hey Oh", "2013", 29, True),
    (4, "Rose White", "France", "Sun", "2003", 41, False),
    (5, "John Nizinik", "France", "Gentleman", "2014", 43, True),
    (6, "Tribal King", "France", "Love", "2016", 25, True),
    (7, "Mei Lin", "China", "Moonlight", "2011", 34, False),
    (8, "Kenji Sato", "Japan", "Sakura Road", "2009", 38, True),
    (9, "Ana Costa", "Brazil", "Mar Azul", "2018", 27, False),
    (10, "Liam Byrne", "Ireland", "Green Hills", "2005", 46, True),
    (11, "Sofia Rossi", "Italy", "Notte", "2015", 31, False),
    (12, "Omar Haddad", "Egypt", "Sahara", "2019", 24, True),
]
_CONCERTS = [
    (1, "Auditions", "Free choice", 1, "2014"),
    (2, "Super bootcamp", "Free choice 2", 2, "2014"),
    (3, "Home Visits", "Bleeding Love", 2, "2015"),
    (4, "Week 1", "Wide Awake", 10, "2014"),
    (5, "Week 1", "Happy Tonight", 9, "2015"),
    (6, "Week 2", "Party All Night", 7, "2015"),
    (7, "Summer Nights", "Open Air", 4, "2016"),
    (8, "Autumn Gala", "Classics", 11, "2016"),
    (9, "Winter Lights", "Ballads", 1, "2017"),
    (10, "Spring Festival", "World Music", 3, "2017"),
    (11, "Finale", "Best Of", 10, "2018"),
    (12, "Charity Night", "Unplugged", 5, "2018"),
]
_SINGER_IN_CONCERT = [
    (1, 2), (1, 3), (1, 5), (2, 3), (2, 6), (3, 5), (4, 4), (5, 6), (5, 3), (6, 2),
    (7, 7), (7, 8), (7, 1), (8, 9), (8, 10), (8, 11), (9, 4), (9, 12), (10, 7), (10, 9),
    (11, 2), (11, 3), (11, 6), (11, 10), (12, 11), (12, 12),
]


def rows() -> dict[str, list[dict]]:
    md = metadata()

    def as_dicts(table: str, values: list[tuple]) -> list[dict]:
        names = [c.name for c in md.tables[table].columns]
        return [dict(zip(names, v, strict=True)) for v in values]

    return {
        "stadium": as_dicts("stadium", _STADIUMS),
        "singer": as_dicts("singer", _SINGERS),
        "concert": as_dicts("concert", _CONCERTS),
        "singer_in_concert": as_dicts("singer_in_concert", _SINGER_IN_CONCERT),
    }
