-- Ellevation Student-Course-Schedules.csv: English learners' active schedules with the lead teacher.
SELECT DISTINCT
  e.Student_Number AS StudentID,
  sec.SchoolID AS SchoolCode,
  sec.Section_ID AS SectionID,
  sec.Course_Number AS CourseNumber,
  sec.Course_Name AS CourseName,
  lead.Teacher_Number AS TeacherID,
  sec.Period AS Period,
  FORMAT_DATE('%m/%d/%Y', sec.Term_Start) AS TermStart,
  FORMAT_DATE('%m/%d/%Y', sec.Term_End) AS TermEnd
FROM `{project}.{source}.enrollments` AS e
JOIN `{project}.{source}.students` AS st ON st.Student_Number = e.Student_Number
JOIN `{project}.{source}.sections` AS sec ON sec.Section_ID = e.Section_ID
LEFT JOIN `{project}.{source}.section_teachers` AS lead ON lead.Section_ID = sec.Section_ID AND lead.Role = 'Lead'
WHERE st.Enroll_Status = 0 AND st.ELL = 'Y'
