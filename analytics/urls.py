from django.urls import path

from analytics import api

urlpatterns = [
    path("console/analytics/figures", api.FiguresApi.as_view()),
    path("console/analytics/figures.csv", api.FiguresCsvApi.as_view()),
    path("console/analytics/brand", api.BrandFiguresApi.as_view()),
    path("console/analytics/brand.csv", api.BrandFiguresCsvApi.as_view()),
    path("console/analytics/historical-online", api.HistoricalOnlineApi.as_view()),
    path("console/analytics/market", api.MarketApi.as_view()),
    path("console/analytics/live", api.LiveApi.as_view()),
]
